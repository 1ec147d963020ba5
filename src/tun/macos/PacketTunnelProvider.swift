// macOS shim: a Network Extension packet tunnel that owns the utun device
// and bridges it to ztnad over ztnad's Unix socket. Framing and CONFIG keys:
// docs/PROTOCOL.md ("Shim socket") ("Shim socket (version 1)"). Linux runs the same protocol
// through ztnad-shim-linux (src/tun/shim_linux.c), which is what the tests
// exercise; this file cannot be built on the Linux dev machine.
//
// providerConfiguration keys:
//   "socket": String, path of ztnad's shim socket (at most 103 bytes).

import Darwin
import Foundation
import NetworkExtension

private let framePacket: UInt8 = 1
private let frameConfig: UInt8 = 2
private let frameVersion: UInt8 = 1

enum ShimError: Error, CustomStringConvertible {
    case config(String)
    case frame(String)
    case posix(String, Int32)

    var description: String {
        switch self {
        case .config(let s): return "configuration: \(s)"
        case .frame(let s): return "ztnad: \(s)"
        case .posix(let op, let e): return "\(op): \(String(cString: strerror(e)))"
        }
    }
}

private struct Frame {
    let type: UInt8
    let body: Data
}

/// "100.64.0.1/32" or "fd00::/64".
private struct CIDR {
    let ip: String
    let prefix: Int
    let v6: Bool

    init?(_ s: String) {
        let parts = s.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let p = Int(parts[1]) else { return nil }
        v6 = parts[0].contains(":")
        guard p >= 0, p <= (v6 ? 128 : 32) else { return nil }
        ip = parts[0]
        prefix = p
    }

    /// Dotted subnet mask, for the IPv4 APIs.
    var mask: String {
        let m: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
        return "\(m >> 24).\(m >> 16 & 0xff).\(m >> 8 & 0xff).\(m & 0xff)"
    }
}

final class PacketTunnelProvider: NEPacketTunnelProvider {
    private var fd: Int32 = -1
    private var stopping = false

    override func startTunnel(options: [String: NSObject]?,
                              completionHandler: @escaping (Error?) -> Void) {
        let conf = (protocolConfiguration as? NETunnelProviderProtocol)?
            .providerConfiguration
        guard let path = conf?["socket"] as? String else {
            completionHandler(ShimError.config("providerConfiguration[\"socket\"] missing"))
            return
        }
        // Connecting and waiting for CONFIG block: not on the caller's queue.
        DispatchQueue.global().async {
            do {
                self.fd = try Self.connect(path)
                guard let first = try self.readFrame(), first.type == frameConfig else {
                    throw ShimError.frame("expected a CONFIG frame first")
                }
                let settings = try Self.settings(from: first.body)
                self.setTunnelNetworkSettings(settings) { error in
                    completionHandler(error)
                    guard error == nil else { return }
                    self.pumpFromSystem()
                    Thread { self.pumpFromZtnad() }.start()
                }
            } catch {
                if self.fd >= 0 { Darwin.close(self.fd) }
                self.fd = -1
                completionHandler(error)
            }
        }
    }

    override func stopTunnel(with reason: NEProviderStopReason,
                             completionHandler: @escaping () -> Void) {
        stopping = true
        // Wakes the reader thread, which closes the descriptor: closing it
        // here could let a new descriptor reuse the number under its read().
        if fd >= 0 { Darwin.shutdown(fd, SHUT_RDWR) }
        completionHandler()
    }

    // MARK: - socket

    private static func connect(_ path: String) throws -> Int32 {
        var addr = sockaddr_un()
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw ShimError.config("socket path too long: \(path)")
        }
        addr.sun_len = UInt8(MemoryLayout<sockaddr_un>.size)
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let fd = Darwin.socket(AF_UNIX, SOCK_STREAM, 0)
        guard fd >= 0 else { throw ShimError.posix("socket", errno) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Darwin.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 {
            let e = errno
            Darwin.close(fd)
            throw ShimError.posix("connect \(path)", e)
        }
        // A write after ztnad went away must fail, not kill the extension.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Exactly n bytes, or nil at end of stream.
    private func readFull(_ n: Int) throws -> Data? {
        var buf = [UInt8](repeating: 0, count: n)
        var off = 0
        while off < n {
            let r = buf.withUnsafeMutableBytes { Darwin.read(fd, $0.baseAddress! + off, n - off) }
            if r == 0 { return nil }
            if r < 0 {
                if errno == EINTR { continue }
                throw ShimError.posix("read", errno)
            }
            off += r
        }
        return Data(buf)
    }

    private func readFrame() throws -> Frame? {
        guard let h = try readFull(4) else { return nil }
        guard h[1] == frameVersion else { throw ShimError.frame("frame version \(h[1])") }
        guard let body = try readFull(Int(h[2]) << 8 | Int(h[3])) else { return nil }
        return Frame(type: h[0], body: body)
    }

    /// Writes one whole frame (blocking: ztnad always drains its side).
    private func writeFrame(_ type: UInt8, _ body: Data) -> Bool {
        guard body.count <= 0xffff else { return true } // cannot be framed: dropped
        var frame = Data([type, frameVersion, UInt8(body.count >> 8), UInt8(body.count & 0xff)])
        frame.append(body)
        return frame.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let w = Darwin.write(fd, raw.baseAddress! + off, raw.count - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                off += w
            }
            return true
        }
    }

    // MARK: - packet pumps

    /// utun -> ztnad. readPackets calls back one batch at a time, so frames
    /// are never interleaved.
    private func pumpFromSystem() {
        packetFlow.readPackets { [weak self] packets, _ in
            guard let self = self else { return }
            for p in packets {
                // ztnad is gone: the reader thread sees EOF and cancels.
                if !self.writeFrame(framePacket, p) { return }
            }
            self.pumpFromSystem()
        }
    }

    /// ztnad -> utun, on its own thread (blocking reads).
    private func pumpFromZtnad() {
        var failure: Error?
        do {
            while let f = try readFrame() {
                switch f.type {
                case framePacket:
                    guard let first = f.body.first else { continue }
                    let family = first >> 4 == 6 ? AF_INET6 : AF_INET
                    packetFlow.writePackets([f.body], withProtocols: [NSNumber(value: family)])
                case frameConfig:
                    let settings = try Self.settings(from: f.body)
                    setTunnelNetworkSettings(settings) { error in
                        if let error = error { NSLog("ztnad shim: new settings: \(error)") }
                    }
                default:
                    continue // unknown frame types are skipped
                }
            }
        } catch {
            failure = error
        }
        Darwin.close(fd)
        if !stopping { cancelTunnelWithError(failure) }
    }

    // MARK: - CONFIG

    private static func settings(from body: Data) throws -> NEPacketTunnelNetworkSettings {
        guard let text = String(data: body, encoding: .utf8) else {
            throw ShimError.frame("CONFIG is not UTF-8")
        }
        // Nothing is sent to this address: the API requires one.
        let s = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: "127.0.0.1")
        var v4Addrs: [String] = [], v4Masks: [String] = [], v4Routes: [NEIPv4Route] = []
        var v6Addrs: [String] = [], v6Prefixes: [NSNumber] = [], v6Routes: [NEIPv6Route] = []
        var dns: [String] = []
        for line in text.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            switch kv[0] {
            case "mtu":
                s.mtu = Int(kv[1]).map { NSNumber(value: $0) }
            case "dns":
                dns.append(kv[1])
            case "address", "route":
                guard let c = CIDR(kv[1]) else { throw ShimError.frame("bad \(kv[0]) \(kv[1])") }
                let isAddr = kv[0] == "address"
                if c.v6 && isAddr {
                    v6Addrs.append(c.ip)
                    v6Prefixes.append(NSNumber(value: c.prefix))
                } else if c.v6 {
                    v6Routes.append(NEIPv6Route(destinationAddress: c.ip,
                                                networkPrefixLength: NSNumber(value: c.prefix)))
                } else if isAddr {
                    v4Addrs.append(c.ip)
                    v4Masks.append(c.mask)
                } else {
                    v4Routes.append(NEIPv4Route(destinationAddress: c.ip, subnetMask: c.mask))
                }
            default:
                continue // unknown keys are ignored (docs/PROTOCOL.md ("Shim socket"))
            }
        }
        if !v4Addrs.isEmpty {
            let v4 = NEIPv4Settings(addresses: v4Addrs, subnetMasks: v4Masks)
            v4.includedRoutes = v4Routes
            s.ipv4Settings = v4
        }
        if !v6Addrs.isEmpty {
            let v6 = NEIPv6Settings(addresses: v6Addrs, networkPrefixLengths: v6Prefixes)
            v6.includedRoutes = v6Routes
            s.ipv6Settings = v6
        }
        if !dns.isEmpty {
            s.dnsSettings = NEDNSSettings(servers: dns)
        }
        return s
    }
}
