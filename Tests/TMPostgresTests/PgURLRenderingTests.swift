import Foundation
import Testing
import TestSupport
import TMPostgres

/// `PostgresConfiguration.url`: what a process hands its children as `TM_DATABASE_URL` parses back
/// to the same configuration, a Unix-socket directory as host included.
@Suite struct PgURLRenderingTests {
    private func roundTrip(_ configuration: PostgresConfiguration) throws -> PostgresConfiguration {
        try PostgresConfiguration(url: configuration.url)
    }

    @Test func aSocketDirectoryHostIsPercentEncoded() throws {
        let configuration = PostgresConfiguration(host: "/work/wt x/.tm/test/pg", port: 5536, database: "tm_db_1")
        #expect(configuration.url == "postgres://postgres@%2Fwork%2Fwt%20x%2F.tm%2Ftest%2Fpg:5536/tm_db_1")
        #expect(try roundTrip(configuration) == configuration)
    }

    /// The loggable form names the same server as `url` (a socket directory encoded, not run into
    /// the port and the path) and never the password.
    @Test func theDescriptionEncodesASocketDirectoryAndMasksThePassword() {
        let configuration = PostgresConfiguration(host: "/work/wt x/.tm/test/pg", port: 5536, password: "s3cret", database: "tm_db_1")
        #expect(configuration.description == "postgres://postgres:***@%2Fwork%2Fwt%20x%2F.tm%2Ftest%2Fpg:5536/tm_db_1")
        #expect(PostgresConfiguration(host: "::1", port: 5432, database: "d").description == "postgres://postgres@[::1]:5432/d")
    }

    @Test func everyPartSurvivesTheRoundTrip() throws {
        let configuration = PostgresConfiguration(
            host: "db.example.com", port: 6432, user: "app@svc:1", password: "p@ss:w/rd?&=%",
            database: "trading db?x&y", sslMode: "require", connectTimeout: .seconds(7),
            extraParameters: ["sslrootcert": "/etc/ssl/a b&c.pem", "keepalives": "1"])
        #expect(try roundTrip(configuration) == configuration)
        // An IPv6 host is bracketed, not encoded.
        let ipv6 = PostgresConfiguration(host: "::1", port: 5432, database: "d")
        #expect(ipv6.url == "postgres://postgres@[::1]:5432/d")
        #expect(try roundTrip(ipv6) == ipv6)
        // The default connect timeout is left out; another one is carried.
        #expect(!PostgresConfiguration().url.contains("connect_timeout"))
        #expect(try roundTrip(PostgresConfiguration(connectTimeout: .seconds(1))).connectTimeout == .seconds(1))
    }

    /// The test servers' own address (a socket directory when the profile uses sockets) rendered
    /// and parsed again still reaches the server.
    @Test func theRenderedTestServerURLConnects() throws {
        let configuration = try PostgresConfiguration(url: try TestServers.databaseURL)
        let connection = try PostgresConnection(configuration: try roundTrip(configuration))
        defer { connection.close() }
        try connection.simpleQuery("SELECT 1")
    }
}
