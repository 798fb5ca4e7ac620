import OutboxNet
import Testing

@Suite("the order in which a host's addresses are tried")
struct AddressOrderTests {
    @Test("IPv6 and IPv4 alternate from the resolver's first choice; addresses that failed lately go last")
    func arrange() {
        let addresses = [("2001:db8::1", true), ("2001:db8::2", true), ("192.0.2.1", false), ("192.0.2.2", false), ("2001:db8::3", true)]
        #expect(AddressOrder.arrange(addresses, failedLately: []) == [0, 2, 1, 3, 4])
        #expect(AddressOrder.arrange(addresses, failedLately: ["2001:db8::1", "2001:db8::2"]) == [2, 3, 4, 0, 1])
        #expect(AddressOrder.arrange([("192.0.2.1", false)], failedLately: ["192.0.2.1"]) == [0])
        #expect(AddressOrder.arrange([], failedLately: []) == [])
    }

    @Test("a failure is remembered per address and port for five minutes, and forgotten on success")
    func memory() {
        let order = AddressOrder()
        order.noteFailure("192.0.2.1", port: 587, now: 1000)
        #expect(order.failed(port: 587, now: 1001) == ["192.0.2.1"])
        #expect(order.failed(port: 465, now: 1001).isEmpty)
        #expect(order.failed(port: 587, now: 1301).isEmpty)
        order.noteFailure("192.0.2.1", port: 587, now: 2000)
        order.noteSuccess("192.0.2.1", port: 587)
        #expect(order.failed(port: 587, now: 2001).isEmpty)
    }
}
