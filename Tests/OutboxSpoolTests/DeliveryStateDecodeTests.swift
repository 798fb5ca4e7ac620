import Testing

@testable import OutboxSpool

@Suite("delivery state files decoded from bytes")
struct DeliveryStateDecodeTests {
    @Test("numbers read as Int(String) reads them")
    func decimals() {
        for text in [
            "0", "5", "+5", "-5", "", "-", "+", "1a", "a1", " 1", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809",
        ] {
            #expect(DeliveryState.decimal(ArraySlice(text.utf8)) == Int(text), "\(text)")
        }
    }

    @Test("fields, empty lines, replies with spaces, unknown keys, refusals")
    func lines() {
        let text =
            "attempts 2\n\nnext 1795430000\nfirst 1795420000\nsince 1795410000\nr 1 deferred 4.4.1 connect to x: refused  twice\nr 0 sent 2.0.0\nzzz 1 2\n"
        let state = DeliveryState.decode(text)
        #expect(state?.attempts == 2 && state?.nextAttempt == 1_795_430_000 && state?.firstAttempt == 1_795_420_000)
        #expect(state?.lifetimeStart == 1_795_410_000)
        #expect(state?.recipients[1]?.reply == "connect to x: refused  twice" && state?.recipients[1]?.dsn == "4.4.1")
        #expect(state?.recipients[0]?.status == .sent && state?.recipients[0]?.reply == "")
        #expect(DeliveryState.decode("next 1 2\n") == nil, "one number only")
        #expect(DeliveryState.decode("r 0 sent\n") == nil, "a recipient line has at least four fields")
        #expect(DeliveryState.decode("r 0 lost 5.0.0 x\n") == nil, "unknown status")
        #expect(DeliveryState.decode("")?.attempts == 0)
    }
}
