// TMPortfolio: filled by its issue-12 work (see Package.swift for its role).
enum TMPortfolioModule {}
