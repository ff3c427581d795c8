import Foundation
import TMCore
import TMCrypto

/// Random (version 4) UUIDs for the order path, drawn from libcrypto's DRBG (`SecureRandom`) 256 at
/// a time: Foundation's `UUID()` opens and reads /dev/urandom for every one (three system calls per
/// order id, about a tenth of the risk bench's CPU).
///
/// Guarantees: 122 bits from the CSPRNG with the version-4 and RFC 4122 variant bits set, as
/// `UUID()` sets them; each byte of the pool is handed out once (under a lock, so threads never share
/// one); when libcrypto cannot give random bytes the UUID is `UUID()`'s — never a weaker generator.
package enum RandomUUID {
    private struct Pool {
        var bytes: [UInt8] = []
        var next = 0
    }

    private static let pool = Locked(Pool())
    /// 256 UUIDs per refill.
    static let poolSize = 4096

    package static func make() -> UUID {
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let drawn = pool.withLock { pool -> Bool in
            if pool.next + 16 > pool.bytes.count {
                guard let fresh = try? SecureRandom.bytes(count: poolSize) else { return false }
                pool.bytes = fresh
                pool.next = 0
            }
            let start = pool.next
            withUnsafeMutableBytes(of: &raw) { out in
                pool.bytes.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + 16])) }
            }
            pool.next += 16
            return true
        }
        guard drawn else { return UUID() }
        raw.6 = (raw.6 & 0x0F) | 0x40  // version 4
        raw.8 = (raw.8 & 0x3F) | 0x80  // variant 10xx (RFC 4122)
        return UUID(uuid: raw)
    }
}
