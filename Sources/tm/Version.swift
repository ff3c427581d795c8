import ArgumentParser
import TMCrypto
import TMPostgres
import TMHTTP
import TMRedis

enum TMVersion {
    static let string = "0.1.0"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version of tm and of the C libraries it was built with.")

    func run() {
        print("tm \(TMVersion.string)")
        print("hiredis \(RedisConnection.libraryVersion)")
        print("libpq \(PostgresConnection.libraryVersion)")
        print("libcurl \(HTTPClient.libraryVersion)")
        print("libcrypto \(CryptoLibrary.version)")
    }
}
