#pragma once
// Shared helpers of the chardev unit tests: a recording frontend, a bounded loop driver and a
// private temporary directory.

#include <stdlib.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "chardev/chardev.h"
#include "qom/object.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev::test {

struct Recorder : CharFrontend {
    size_t room = SIZE_MAX;  // SIZE_MAX: unlimited; otherwise decremented per byte received
    std::string data;
    std::vector<ChardevEvent> events;
    size_t can_receive() override { return room; }
    void receive(std::span<const uint8_t> d) override {
        data.append(reinterpret_cast<const char*>(d.data()), d.size());
        if (room != SIZE_MAX) room -= d.size();
    }
    void on_event(ChardevEvent ev) override { events.push_back(ev); }
};

// Dispatch until cond() holds, at most `rounds` rounds (each waits at most 100 ms for events).
template <class F> bool run_until(EventLoop& loop, F cond, int rounds = 200) {
    for (int i = 0; i < rounds && !cond(); i++) loop.run_once(100);
    return cond();
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-chardev-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

struct Env {
    qom::TypeRegistry registry;
    std::unique_ptr<EventLoop> loop;
    Env() {
        qom::register_base_types(registry);
        register_chardev_types(registry);
        loop = std::move(EventLoop::create().value());
    }
    Result<std::unique_ptr<Chardev>> make(std::string_view id, const ChardevOptions& o) {
        return create_chardev(registry, *loop, id, o);
    }
};

inline std::span<const uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

} // namespace nemu::chardev::test
