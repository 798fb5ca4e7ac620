/// Each route's share of the window, so that one route's backlog cannot hold every place
/// in it (found by review: a slow or throttled route with more due mail than the window
/// kept every other route's mail on disk, behind it). A route may have at most
/// `windowLimit / routes` messages due or in flight in the window; what it has beyond
/// that waits on disk (DiskBacklog's waiting lines) until its own mail goes out. With no
/// [route] sections there is one route and its share is the whole window.
struct WindowShares {
    /// The most messages one route may have due or in flight (nil: no limit, one route).
    let share: Int?
    private var busy: [String: Int] = [:]

    /// `routes`: how many routes the configuration has, the global settings included;
    /// `held`: the route of each message in the window that is due or in flight.
    init(windowLimit: Int, routes: Int, held: () -> [String]) {
        guard routes > 1 else {
            share = nil
            return
        }
        share = max(1, windowLimit / routes)
        for route in held() { busy[route, default: 0] += 1 }
    }

    /// How many more messages `route` may have in the window.
    func room(for route: String) -> Int {
        guard let share else { return Int.max }
        return max(0, share - busy[route, default: 0])
    }

    /// A message of `route` came into the window.
    mutating func add(_ route: String) {
        if share != nil { busy[route, default: 0] += 1 }
    }
}
