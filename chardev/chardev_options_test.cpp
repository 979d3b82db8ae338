#include <gtest/gtest.h>

#include "chardev/chardev_options.h"

namespace nemu::chardev {
namespace {

std::string error_of(std::string_view backend, const KeyVals& kv) {
    auto r = chardev_options_from_keyvals(backend, kv);
    return r ? std::string("<ok>") : r.error().msg;
}

TEST(ChardevOptions, SocketKeys) {
    auto o = chardev_options_from_keyvals(
                 "socket", {{"id", "s1"}, {"path", "/tmp/q.sock"}, {"server", "on"}, {"wait", "off"}})
                 .value();
    EXPECT_EQ(o.backend, "socket");
    EXPECT_EQ(o.path, "/tmp/q.sock");
    EXPECT_TRUE(o.server);
    EXPECT_FALSE(o.wait);
    EXPECT_FALSE(o.fd.has_value());

    auto f = chardev_options_from_keyvals("socket", {{"id", "charmonitor"}, {"fd", "23"}, {"server", "on"},
                                                     {"wait", "off"}})
                 .value();
    EXPECT_EQ(f.fd, 23);

    auto t = chardev_options_from_keyvals("socket", {{"host", "::1"}, {"port", "4444"}, {"nodelay", "on"},
                                                     {"reconnect", "2"}})
                 .value();
    EXPECT_EQ(t.host, "::1");
    EXPECT_EQ(t.port, "4444");
    EXPECT_TRUE(t.nodelay);
    EXPECT_EQ(t.reconnect, 2u);
}

// Messages checked against qemu-system-x86_64 7.2 -chardev.
TEST(ChardevOptions, QemuMessages) {
    EXPECT_EQ(error_of("socket", {{"id", "x"}}), "Unable to parse FD number ");
    EXPECT_EQ(error_of("socket", {{"fd", "abc"}, {"server", "on"}}), "Unable to parse FD number abc");
    EXPECT_EQ(error_of("socket", {{"host", "127.0.0.1"}}), "chardev: socket: no port given");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"host", "h"}, {"port", "1"}}),
              "None or one of 'path', 'fd' or 'host' option required.");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"bogus", "1"}}), "Invalid parameter 'bogus'");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"server", "maybe"}}), "Parameter 'server' expects 'on' or 'off'");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"wait", "off"}}),
              "'wait' option is incompatible with socket in client connect mode");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"server", "on"}, {"reconnect", "1"}}),
              "'reconnect' option is incompatible with socket in server listen mode");
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"reconnect", "abc"}}), "Parameter 'reconnect' expects a number");
    EXPECT_EQ(error_of("file", {{"id", "x"}}), "chardev: file: no filename given");
    EXPECT_EQ(error_of("file", {{"path", "/f"}, {"append", "maybe"}}), "Parameter 'append' expects 'on' or 'off'");
    EXPECT_EQ(error_of("ringbuf", {{"size", "abc"}}), "Parameter 'size' expects a non-negative number below 2^64");
    EXPECT_EQ(error_of("bogus", {}), "'bogus' is not a valid char driver name");
    EXPECT_EQ(error_of("null", {{"mux", "maybe"}}), "Parameter 'mux' expects 'on' or 'off'");
    EXPECT_EQ(error_of("stdio", {{"signal", "maybe"}}), "Parameter 'signal' expects 'on' or 'off'");
    // Another backend's key is accepted and ignored, as QEMU does.
    EXPECT_EQ(error_of("null", {{"path", "1"}}), "<ok>");
}

TEST(ChardevOptions, UnsupportedFeaturesAreRefusedClearly) {
    EXPECT_EQ(error_of("socket", {{"path", "/a"}, {"telnet", "on"}}), "<ok>");  // refused at open
    EXPECT_NE(error_of("socket", {{"path", "/a"}, {"websocket", "on"}}), "<ok>");
    EXPECT_NE(error_of("null", {{"logfile", "/tmp/l"}}), "<ok>");
    EXPECT_EQ(error_of("vc", {}), "chardev: backend 'vc' is not supported by nemu");
}

TEST(ChardevOptions, OtherBackends) {
    auto r = chardev_options_from_keyvals("ringbuf", {{"size", "1M"}}).value();
    EXPECT_EQ(r.size, 1024u * 1024u);
    EXPECT_EQ(chardev_options_from_keyvals("memory", {}).value().backend, "ringbuf");
    auto f = chardev_options_from_keyvals("file", {{"path", "/tmp/x"}, {"append", "on"}}).value();
    EXPECT_TRUE(f.append);
    auto s = chardev_options_from_keyvals("stdio", {{"mux", "on"}, {"signal", "off"}}).value();
    EXPECT_TRUE(s.mux);
    EXPECT_FALSE(s.signal);
}

} // namespace
} // namespace nemu::chardev
