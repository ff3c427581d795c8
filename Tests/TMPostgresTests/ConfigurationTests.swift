import Foundation
import TMCore
import Testing
@testable import TMPostgres

@Suite struct ConfigurationTests {
    @Test func parsesFullURL() throws {
        let c = try PostgresConfiguration(
            url: "postgres://app%40svc:p%40ss%3Aw%2Frd@db.example.com:6432/trading%20db?sslmode=require&connect_timeout=7&application_name=worker")
        #expect(c.user == "app@svc")
        #expect(c.password == "p@ss:w/rd")
        #expect(c.host == "db.example.com")
        #expect(c.port == 6432)
        #expect(c.database == "trading db")
        #expect(c.sslMode == "require")
        #expect(c.connectTimeout == .seconds(7))
        #expect(c.applicationName == "worker")
    }

    @Test func defaultsAndVariants() throws {
        let c = try PostgresConfiguration(url: "postgresql://bob@localhost")
        #expect(c.port == 5432)
        #expect(c.database == "bob")  // libpq's default: the user name
        #expect(c.password == nil)
        #expect(c.connectTimeout == .seconds(5))

        let v6 = try PostgresConfiguration(url: "postgres://u:pw@[::1]:5433/db")
        #expect(v6.host == "::1")
        #expect(v6.port == 5433)

        let socket = try PostgresConfiguration(url: "postgres://u@%2Fvar%2Frun%2Fpostgresql/db")
        #expect(socket.host == "/var/run/postgresql")

        let hostParam = try PostgresConfiguration(url: "postgres://u@/db?host=/tmp/sock")
        #expect(hostParam.host == "/tmp/sock")

        // An unencoded '@' in the password still parses: the last '@' ends the credentials.
        let at = try PostgresConfiguration(url: "postgres://u:a@b@h/db")
        #expect(at.password == "a@b")
        #expect(at.host == "h")
    }

    @Test(arguments: [
        ("postgres://u@h:notaport/db", "port"),
        ("postgres://u@h:70000/db", "port"),
        ("mysql://u@h/db", "scheme"),
        ("u@h/db", "scheme"),
        ("postgres://u@h/db?sslmode=sometimes", "sslmode"),
        ("postgres://u@h/db?connect_timeout=soon", "connect_timeout"),
        ("postgres://u@h/db?colour=blue", "colour"),
        ("postgres://u@h1,h2/db", "host"),
        ("postgres://u@[::1/db", "host"),
        ("postgres://u%zz@h/db", "user"),
        ("postgres://u@h/d%zzb", "database"),
    ])
    func badURLNamesTheField(url: String, field: String) {
        do {
            _ = try PostgresConfiguration(url: url)
            Issue.record("expected \(url) to be rejected")
        } catch let error as PostgresError {
            #expect(error.kind == .configuration)
            #expect(error.message.contains(field), "\(error.message) should name \(field)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func passwordNeverShown() throws {
        let c = try PostgresConfiguration(url: "postgres://u:s3cretPW@h:5432/db")
        #expect(!c.description.contains("s3cretPW"))
        #expect(!"\(c)".contains("s3cretPW"))
        do {
            _ = try PostgresConfiguration(url: "postgres://u:s3cretPW@h:99999/db")
            Issue.record("expected failure")
        } catch {
            #expect(!"\(error)".contains("s3cretPW"))
        }
        do {
            _ = try PostgresConfiguration(url: "postgres://u:s3cret%zzPW@h/db")
            Issue.record("expected failure")
        } catch let error as PostgresError {
            #expect(error.message.contains("password"))
            #expect(!"\(error)".contains("s3cret"))
        }
    }

    @Test func fromEnvironment() throws {
        let env = TMEnvironment(process: ["TM_DATABASE_URL": "postgres://a:b@h:1234/x"], envFile: nil)
        let c = try PostgresConfiguration.fromEnvironment(env)
        #expect(c.port == 1234)
        #expect(c.database == "x")

        let missing = TMEnvironment(process: [:], envFile: nil)
        #expect {
            try PostgresConfiguration.fromEnvironment(missing)
        } throws: { error in
            (error as? ConfigurationError)?.variable == "TM_DATABASE_URL"
        }

        let bad = TMEnvironment(process: ["TM_DATABASE_URL": "postgres://a:b@h:xyz/x"], envFile: nil)
        #expect {
            try PostgresConfiguration.fromEnvironment(bad)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.variable == "TM_DATABASE_URL" && error.reason.contains("port") && !error.description.contains(":b@")
        }
    }

    @Test func libpqParametersAreSeparatePairs() throws {
        // A database name that looks like conninfo must stay a database name.
        let c = try PostgresConfiguration(url: "postgres://u@h/x%20host%3Devil")
        let params = Dictionary(c.libpqParameters, uniquingKeysWith: { a, _ in a })
        #expect(params["dbname"] == "x host=evil")
        #expect(params["host"] == "h")
        #expect(params["connect_timeout"] == "5")
        #expect(params["application_name"]?.isEmpty == false)
    }
}
