// rbd options: the file name syntax of QEMU 7.2 qemu_rbd_parse_filename (the error texts and
// the escaping cases were checked against qemu-system-x86_64 7.2 -drive file=rbd:...), the
// BlockdevOptionsRbd members as the QAPI visitor reads them, mon_host and the strong options.
#include "block/rbd/rbd_options.h"

#include <gtest/gtest.h>

namespace nemu::block {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

RbdOptions parse_ok(std::string_view name) {
    auto r = parse_rbd_filename(name);
    EXPECT_TRUE(r.has_value()) << name << ": " << (r ? "" : r.error().msg);
    return r ? *r : RbdOptions{};
}

std::string parse_err(std::string_view name) {
    auto r = parse_rbd_filename(name);
    EXPECT_FALSE(r.has_value()) << name;
    return r ? "" : r.error().msg;
}

TEST(RbdFilename, PoolAndImage) {
    RbdOptions o = parse_ok("rbd:pool/image");
    EXPECT_EQ(o.pool, "pool");
    EXPECT_EQ(o.ns, "");       // a file name always sets namespace
    EXPECT_EQ(o.image, "image");
    EXPECT_FALSE(o.snapshot);
    EXPECT_FALSE(o.conf);
    EXPECT_FALSE(o.user);
    EXPECT_TRUE(o.keyvalue_pairs.empty());
}

TEST(RbdFilename, EveryPart) {
    RbdOptions o = parse_ok("rbd:p/ns/img@snap:conf=/etc/c.conf:id=admin:mon_host=a\\:1:rbd_cache=false");
    EXPECT_EQ(o.pool, "p");
    EXPECT_EQ(o.ns, "ns");
    EXPECT_EQ(o.image, "img");
    EXPECT_EQ(o.snapshot, "snap");
    EXPECT_EQ(o.conf, "/etc/c.conf");
    EXPECT_EQ(o.user, "admin");
    EXPECT_EQ(o.keyvalue_pairs, (Pairs{{"mon_host", "a:1"}, {"rbd_cache", "false"}}));
}

TEST(RbdFilename, Escapes) {
    EXPECT_EQ(parse_ok("rbd:p\\/x/i").pool, "p/x");
    RbdOptions at = parse_ok("rbd:p/i\\@x");  // an escaped '@' is no snapshot separator
    EXPECT_EQ(at.image, "i@x");
    EXPECT_FALSE(at.snapshot);
    RbdOptions ns = parse_ok("rbd:p/ns\\/x/i");
    EXPECT_EQ(ns.ns, "ns/x");
    EXPECT_EQ(ns.image, "i");
    EXPECT_EQ(parse_ok("rbd:p/i\\/j").image, "i/j");
    EXPECT_EQ(parse_ok("rbd:p/i:conf=/non\\:existent").conf, "/non:existent");
    EXPECT_EQ(parse_ok("rbd:p/i@s\\:t").snapshot, "s:t");
    EXPECT_EQ(parse_ok("rbd:p/i:k\\=ey=v\\=al").keyvalue_pairs, (Pairs{{"k=ey", "v=al"}}));
    // A backslash before any character takes it literally; a trailing one stays.
    EXPECT_EQ(parse_ok("rbd:p/\\i").image, "i");
    EXPECT_EQ(parse_ok("rbd:p/i\\").image, "i\\");
}

TEST(RbdFilename, EmptyAndRepeatedParts) {
    EXPECT_EQ(parse_ok("rbd:/i").pool, "");
    EXPECT_EQ(parse_ok("rbd:p/").image, "");
    RbdOptions snap = parse_ok("rbd:p/i@");
    ASSERT_TRUE(snap.snapshot);
    EXPECT_EQ(*snap.snapshot, "");
    // Only the first '@' separates; the snapshot runs to the first ':'.
    RbdOptions two = parse_ok("rbd:p/i@s@t:conf=/c");
    EXPECT_EQ(two.image, "i");
    EXPECT_EQ(two.snapshot, "s@t");
    EXPECT_EQ(two.conf, "/c");
    // An empty key is passed on (rados_conf_set refuses it when opening).
    EXPECT_EQ(parse_ok("rbd:p/i:=x").keyvalue_pairs, (Pairs{{"", "x"}}));
    // The last conf/id wins.
    EXPECT_EQ(parse_ok("rbd:p/i:conf=/a:conf=/b").conf, "/b");
}

TEST(RbdFilename, Errors) {
    EXPECT_EQ(parse_err("rbd"), "File name must start with 'rbd:'");
    EXPECT_EQ(parse_err("file:rbd:p/i"), "File name must start with 'rbd:'");
    EXPECT_EQ(parse_err("rbd:p"), "Pool name is required");
    EXPECT_EQ(parse_err("rbd:p\\/i"), "Pool name is required");
    EXPECT_EQ(parse_err("rbd:p/i:id"), "conf option id has no value");
    EXPECT_EQ(parse_err("rbd:p/i:conf"), "conf option conf has no value");
    // The name is quoted as written, escapes and all.
    EXPECT_EQ(parse_err("rbd:p/i:a\\=b"), "conf option a\\=b has no value");
    EXPECT_EQ(parse_err("rbd:p/i:conf=/n:"), "conf option  has no value");
}

Result<RbdOptions> from_json(const char* text, const std::string& path = "") {
    return rbd_options_from_json(Json::parse(text), path);
}

TEST(RbdJson, Members) {
    auto r = from_json(R"({"pool":"p","namespace":"n","image":"i","conf":"/c","snapshot":"s","user":"u",
                          "auth-client-required":["cephx","none"],"key-secret":"k",
                          "server":[{"host":"h","port":"6789"}]})");
    ASSERT_TRUE(r) << r.error().msg;
    EXPECT_EQ(r->pool, "p");
    EXPECT_EQ(r->ns, "n");
    EXPECT_EQ(r->image, "i");
    EXPECT_EQ(r->conf, "/c");
    EXPECT_EQ(r->snapshot, "s");
    EXPECT_EQ(r->user, "u");
    EXPECT_EQ(r->auth_client_required, (std::vector<std::string>{"cephx", "none"}));
    EXPECT_EQ(r->key_secret, "k");
    ASSERT_TRUE(r->server);
    ASSERT_EQ(r->server->size(), 1u);
    EXPECT_EQ((*r->server)[0].host, "h");
    // Without a namespace member there is none (unlike a file name's "").
    auto bare = from_json(R"({"pool":"p","image":"i"})");
    ASSERT_TRUE(bare);
    EXPECT_FALSE(bare->ns);
}

TEST(RbdJson, VisitorErrors) {
    EXPECT_EQ(from_json(R"({"image":"i"})").error().msg, "Parameter 'pool' is missing");
    EXPECT_EQ(from_json(R"({"pool":"p"})", "file.").error().msg, "Parameter 'file.image' is missing");
    EXPECT_EQ(from_json(R"({"pool":1,"image":"i"})").error().msg,
              "Invalid parameter type for 'pool', expected: string");
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","auth-client-required":["x"]})").error().msg,
              "Parameter 'auth-client-required[0]' does not accept value 'x'");
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","auth-client-required":"cephx"})").error().msg,
              "Invalid parameter type for 'auth-client-required', expected: array");
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","server":[{"host":"h"}]})").error().msg,
              "Parameter 'server[0].port' is missing");
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","server":[{"host":"h","port":"1","x":1}]})").error().msg,
              "Parameter 'server[0].x' is unexpected");
    // Type errors of later members win over the refused encryption (the visitor reads all).
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","encrypt":{"format":"luks","key-secret":"s"},"user":1})").error().msg,
              "Invalid parameter type for 'user', expected: string");
    EXPECT_EQ(from_json(R"({"pool":"p","image":"i","encrypt":{"format":"luks","key-secret":"s"}})").error().msg,
              "Parameter 'encrypt' is not supported by nemu");
}

TEST(RbdJson, MonHost) {
    RbdOptions o;
    EXPECT_FALSE(rbd_mon_host(o));
    o.server = std::vector<RbdServer>{};
    EXPECT_FALSE(rbd_mon_host(o));
    o.server = std::vector<RbdServer>{{"mon1", "6789"}, {"::1", "3300"}, {"10.0.0.1", "6789"}};
    EXPECT_EQ(rbd_mon_host(o), "mon1:6789;[::1]:3300;10.0.0.1:6789");
}

TEST(RbdJson, StrongOptions) {
    RbdOptions o = parse_ok("rbd:p/i@s:conf=/c:id=u:foo=bar");
    // namespace "" from the file name is kept; key=value pairs are not strong options.
    EXPECT_EQ(rbd_strong_options(o),
              Json::parse(R"({"pool":"p","namespace":"","image":"i","conf":"/c","snapshot":"s","user":"u"})"));
    RbdOptions j = *from_json(R"({"pool":"p","image":"i","key-secret":"k","auth-client-required":["none"],
                                 "server":[{"host":"h","port":"1"},{"host":"g","port":"2"}]})");
    EXPECT_EQ(rbd_strong_options(j),
              Json::parse(R"({"pool":"p","image":"i","server.0.host":"h","server.0.port":"1",
                              "server.1.host":"g","server.1.port":"2"})"));
}

} // namespace
} // namespace nemu::block
