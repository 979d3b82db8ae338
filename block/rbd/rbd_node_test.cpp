// RbdNode over a fake RbdClient: the order and arguments of the librados/librbd calls, QEMU
// 7.2's error texts for each failing step, read-only and snapshot handling, I/O, length
// bookkeeping, request splitting and errno mapping. No cluster involved.
#include "block/rbd/rbd_node.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "block/block_filename.h"

namespace nemu::block {
namespace {

// Bytes a fake image keeps in memory; a bigger size (request splitting) has no data behind.
constexpr uint64_t kFakeDataCap = 16 << 20;

// An image in memory; every call is logged and any can be made to fail.
struct FakeImage final : RbdImage {
    uint64_t size;
    std::vector<uint8_t> data;
    uint64_t object_size = 4 << 20;
    std::map<std::string, int64_t> fail; // call name -> return value
    std::vector<std::string>* log;
    int64_t short_read = -1; // readv returns at most this many bytes when >= 0

    FakeImage(uint64_t sz, std::vector<std::string>* l) : size(sz), data(std::min(sz, kFakeDataCap)), log(l) {}

    int64_t hit(const std::string& call, const std::string& args) {
        log->push_back(call + "(" + args + ")");
        auto it = fail.find(call);
        return it == fail.end() ? 0 : it->second;
    }
    int64_t readv(uint64_t off, std::span<const iovec> iov) override {
        uint64_t len = iov_size(iov);
        if (int64_t r = hit("readv", std::to_string(off) + "," + std::to_string(len)); r < 0) return r;
        len = std::min<uint64_t>(len, off < size ? size - off : 0);
        if (off + len > data.size()) return -EFAULT;
        if (short_read >= 0) len = std::min<uint64_t>(len, short_read);
        iov_from_buf(iov, 0, std::span<const uint8_t>(data.data() + off, len));
        return static_cast<int64_t>(len);
    }
    int64_t writev(uint64_t off, std::span<const iovec> iov) override {
        const uint64_t len = iov_size(iov);
        if (int64_t r = hit("writev", std::to_string(off) + "," + std::to_string(len)); r < 0) return r;
        if (off + len > size) return -EINVAL; // librbd refuses I/O past the end
        if (off + len > data.size()) return -EFAULT;
        iov_to_buf(iov, 0, std::span<uint8_t>(data.data() + off, len));
        return static_cast<int64_t>(len);
    }
    int flush() override { return static_cast<int>(hit("flush", "")); }
    int discard(uint64_t off, uint64_t len) override {
        return static_cast<int>(hit("discard", std::to_string(off) + "," + std::to_string(len)));
    }
    int write_zeroes(uint64_t off, uint64_t len, bool thick) override {
        return static_cast<int>(hit("write_zeroes", std::to_string(off) + "," + std::to_string(len) + (thick ? ",thick" : "")));
    }
    int resize(uint64_t new_size) override {
        if (int64_t r = hit("resize", std::to_string(new_size)); r < 0) return static_cast<int>(r);
        size = new_size;
        data.resize(std::min(new_size, kFakeDataCap));
        return 0;
    }
    int stat(uint64_t& sz, uint64_t& obj) override {
        if (int64_t r = hit("stat", ""); r < 0) return static_cast<int>(r);
        sz = size;
        obj = object_size;
        return 0;
    }
};

struct FakeClient final : RbdClient {
    std::vector<std::string> log;
    std::map<std::string, int> fail; // step (or "conf_set:key") -> return value
    bool ns_exists = true;
    uint64_t image_size = 1 << 20;
    std::map<std::string, int64_t> image_fail; // FakeImage::fail of the images opened
    FakeImage* image = nullptr; // the last image opened (owned by its node)

    int step(const std::string& name, const std::string& args, const std::string& key = "") {
        log.push_back(name + "(" + args + ")");
        if (auto it = fail.find(key.empty() ? name : name + ":" + key); it != fail.end()) return it->second;
        return 0;
    }
    int create(const std::optional<std::string>& user) override { return step("create", user.value_or("null")); }
    int conf_read_file(const std::optional<std::string>& path) override {
        return step("conf_read_file", path.value_or("null"));
    }
    int conf_set(const std::string& k, const std::string& v) override { return step("conf_set", k + "=" + v, k); }
    int connect() override { return step("connect", ""); }
    int ioctx_create(const std::string& pool) override { return step("ioctx_create", pool); }
    int namespace_exists(const std::string& ns, bool& exists) override {
        exists = ns_exists;
        return step("namespace_exists", ns);
    }
    void set_namespace(const std::string& ns) override { step("set_namespace", ns); }
    int open_image(const std::string& name, const std::optional<std::string>& snap, bool ro,
                   std::unique_ptr<RbdImage>& out) override {
        if (int r = step("open_image", name + "," + snap.value_or("null") + (ro ? ",ro" : ",rw")); r < 0) return r;
        auto img = std::make_unique<FakeImage>(image_size, &log);
        img->fail = image_fail;
        image = img.get();
        out = std::move(img);
        return 0;
    }
};

using Log = std::vector<std::string>;

RbdOptions opts(const char* filename) { return *parse_rbd_filename(filename); }

std::string open_error(FakeClient& c, const RbdOptions& o, OpenFlags f = {}) {
    auto r = RbdNode::open(o, f, c);
    EXPECT_FALSE(r.has_value());
    return r ? "" : r.error().msg;
}

TEST(RbdNodeOpen, CallsInQemuOrder) {
    FakeClient c;
    RbdOptions o = *rbd_options_from_json(
        Json::parse(R"({"pool":"p","namespace":"ns","image":"i","conf":"/c","user":"u",
                       "auth-client-required":["cephx","none"],
                       "server":[{"host":"m1","port":"6789"},{"host":"fe80::1","port":"3300"}]})"),
        "");
    auto node = RbdNode::open(o, OpenFlags{}, c);
    ASSERT_TRUE(node) << node.error().msg;
    EXPECT_EQ(c.log, (Log{"create(u)", "conf_read_file(/c)", "conf_set(mon_host=m1:6789;[fe80::1]:3300)",
                          "conf_set(auth_client_required=cephx;none)", "conf_set(rbd_cache=true)", "connect()",
                          "ioctx_create(p)", "namespace_exists(ns)", "set_namespace(ns)", "open_image(i,null,rw)",
                          "stat()"}));
    EXPECT_EQ((*node)->driver(), "rbd");
    EXPECT_EQ((*node)->length(), 1u << 20);
    EXPECT_FALSE((*node)->read_only());
}

TEST(RbdNodeOpen, FileNameKeysAndDefaults) {
    FakeClient c;
    OpenFlags f;
    f.cache.direct = true; // cache=none: librbd's cache off
    auto node = RbdNode::open(opts("rbd:p/i:id=admin:mon_host=a\\:1:debug_rbd=0"), f, c);
    ASSERT_TRUE(node) << node.error().msg;
    // No conf=: the default locations, no namespace check for "".
    EXPECT_EQ(c.log, (Log{"create(admin)", "conf_read_file(null)", "conf_set(mon_host=a:1)", "conf_set(debug_rbd=0)",
                          "conf_set(rbd_cache=false)", "connect()", "ioctx_create(p)", "set_namespace()",
                          "open_image(i,null,rw)", "stat()"}));
}

TEST(RbdNodeOpen, DefaultConfFileMayBeMissing) {
    FakeClient c;
    c.fail["conf_read_file"] = -ENOENT;
    EXPECT_TRUE(RbdNode::open(opts("rbd:p/i"), OpenFlags{}, c));
}

TEST(RbdNodeOpen, StepErrors) {
    struct Case {
        std::string step;
        int r;
        const char* filename;
        std::string msg;
    } cases[] = {
        {"create", -EINVAL, "rbd:p/i", "error initializing: Invalid argument"},
        {"conf_read_file", -ENOENT, "rbd:p/i:conf=/x", "error reading conf file /x: No such file or directory"},
        {"conf_set:foo", -ENOENT, "rbd:p/i:foo=bar", "invalid conf option foo: No such file or directory"},
        {"conf_set:mon_host", -EINVAL, "rbd:p/i", ""}, // not reached: no servers
        {"connect", -ETIMEDOUT, "rbd:p/i", "error connecting: Connection timed out"},
        {"ioctx_create", -ENOENT, "rbd:p/i", "error opening pool p: No such file or directory"},
        {"namespace_exists", -EPERM, "rbd:p/n/i", "error checking namespace: Operation not permitted"},
        {"open_image", -ENOENT, "rbd:p/i", "error reading header from i: No such file or directory"},
    };
    for (const auto& k : cases) {
        FakeClient c;
        c.fail[k.step] = k.r;
        auto r = RbdNode::open(opts(k.filename), OpenFlags{}, c);
        if (k.msg.empty()) {
            EXPECT_TRUE(r) << k.step;
            continue;
        }
        ASSERT_FALSE(r) << k.step;
        EXPECT_EQ(r.error().msg, k.msg);
        EXPECT_EQ(r.error().sys_errno, -k.r) << k.step;
    }
    FakeClient missing;
    missing.ns_exists = false;
    EXPECT_EQ(open_error(missing, opts("rbd:p/n/i")), "namespace 'n' does not exist");
    EXPECT_EQ(missing.log.back(), "namespace_exists(n)");
}

TEST(RbdNodeOpen, StatError) {
    FakeClient c;
    c.image_fail["stat"] = -EIO;
    EXPECT_EQ(open_error(c, opts("rbd:p/i")), "error getting image info from i: Input/output error");
}

TEST(RbdNodeOpen, KeySecretNeedsASecretObject) {
    FakeClient c;
    auto o = *rbd_options_from_json(Json::parse(R"({"pool":"p","image":"i","key-secret":"sec0"})"), "");
    EXPECT_EQ(open_error(c, o), "No secret with id 'sec0'");
    EXPECT_EQ(c.log, (Log{"create(null)", "conf_read_file(null)"})); // never connects
    // QEMU's order: a bad conf file is reported first.
    FakeClient c2;
    c2.fail["conf_read_file"] = -ENOENT;
    o.conf = "/nonexistent";
    EXPECT_EQ(open_error(c2, o), "error reading conf file /nonexistent: No such file or directory");
}

TEST(RbdNodeOpen, AuthAndMonHostErrors) {
    FakeClient c;
    c.fail["conf_set:auth_client_required"] = -EINVAL;
    auto o = *rbd_options_from_json(Json::parse(R"({"pool":"p","image":"i","auth-client-required":["none"]})"), "");
    EXPECT_EQ(open_error(c, o), "Could not set 'auth_client_required': Invalid argument");
    FakeClient c2;
    c2.fail["conf_set:mon_host"] = -EINVAL;
    auto m = *rbd_options_from_json(Json::parse(R"({"pool":"p","image":"i","server":[{"host":"h","port":"1"}]})"), "");
    EXPECT_EQ(open_error(c2, m), "Could not open '': Invalid argument");
    // rbd_cache errors are ignored.
    FakeClient c3;
    c3.fail["conf_set:rbd_cache"] = -ENOENT;
    EXPECT_TRUE(RbdNode::open(opts("rbd:p/i"), OpenFlags{}, c3));
}

TEST(RbdNodeOpen, ReadOnlyAndSnapshots) {
    OpenFlags ro;
    ro.read_only = true;
    FakeClient a;
    auto n = RbdNode::open(opts("rbd:p/i"), ro, a);
    ASSERT_TRUE(n);
    EXPECT_TRUE((*n)->read_only());
    EXPECT_EQ(a.log[a.log.size() - 2], "open_image(i,null,ro)");

    // A snapshot needs read-only (or auto-read-only), checked after the image opened.
    FakeClient b;
    EXPECT_EQ(open_error(b, opts("rbd:p/i@s")), "rbd snapshots are read-only");
    EXPECT_EQ(b.log.back(), "stat()");
    EXPECT_EQ(b.log[b.log.size() - 2], "open_image(i,s,ro)");

    OpenFlags aro;
    aro.auto_read_only = true;
    FakeClient c;
    auto s = RbdNode::open(opts("rbd:p/i@s"), aro, c);
    ASSERT_TRUE(s) << s.error().msg;
    EXPECT_TRUE((*s)->read_only());
    FakeClient d;
    ASSERT_TRUE(RbdNode::open(opts("rbd:p/i@s"), ro, d));
    // auto-read-only alone does not make a plain image read-only.
    FakeClient e;
    auto plain = RbdNode::open(opts("rbd:p/i"), aro, e);
    ASSERT_TRUE(plain);
    EXPECT_FALSE((*plain)->read_only());

    // A read-only node refuses every change.
    uint8_t buf[512] = {};
    iovec v{buf, sizeof buf};
    auto& node = **n;
    EXPECT_EQ(node.write(0, std::span<const iovec>(&v, 1), false).error().sys_errno, EPERM);
    EXPECT_EQ(node.discard(0, 512).error().sys_errno, EPERM);
    EXPECT_EQ(node.write_zeroes(0, 512, true).error().sys_errno, EPERM);
    EXPECT_EQ(node.truncate(4096).error().sys_errno, EPERM);
    EXPECT_TRUE(node.read(0, std::span<const iovec>(&v, 1)));
}

struct NodeFixture : ::testing::Test {
    FakeClient client;
    std::shared_ptr<RbdNode> node;
    void SetUp() override {
        client.image_size = 64 * 1024;
        auto r = RbdNode::open(opts("rbd:p/i"), OpenFlags{}, client);
        ASSERT_TRUE(r) << r.error().msg;
        node = *r;
        client.log.clear();
    }
    FakeImage& img() { return *client.image; }
};

using RbdNodeIo = NodeFixture;

TEST_F(RbdNodeIo, WriteReadFlush) {
    std::vector<uint8_t> out(4096, 0xab), in(4096, 0);
    iovec w[2] = {{out.data(), 1000}, {out.data() + 1000, 3096}};
    ASSERT_TRUE(node->write(8192, w, false));
    iovec r{in.data(), in.size()};
    ASSERT_TRUE(node->read(8192, std::span<const iovec>(&r, 1)));
    EXPECT_EQ(in, out);
    ASSERT_TRUE(node->write(0, std::span<const iovec>(&r, 1), true)); // fua: write, then flush
    EXPECT_EQ(client.log, (Log{"writev(8192,4096)", "readv(8192,4096)", "writev(0,4096)", "flush()"}));
}

TEST_F(RbdNodeIo, ShortReadsAreZeroPadded) {
    std::fill(img().data.begin(), img().data.end(), 0x11);
    img().short_read = 100;
    std::vector<uint8_t> in(512, 0xff);
    iovec r{in.data(), in.size()};
    ASSERT_TRUE(node->read(0, std::span<const iovec>(&r, 1)));
    EXPECT_EQ(in[99], 0x11);
    EXPECT_EQ(in[100], 0);
    EXPECT_EQ(in[511], 0);
}

TEST_F(RbdNodeIo, ReadsStayWithinTheImage) {
    uint8_t b[512];
    iovec r{b, sizeof b};
    auto e = node->read(64 * 1024 - 256, std::span<const iovec>(&r, 1));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().sys_errno, EINVAL);
    EXPECT_TRUE(client.log.empty());
}

TEST_F(RbdNodeIo, WritesPastTheEndGrowTheImage) {
    std::vector<uint8_t> out(4096, 7);
    iovec w{out.data(), out.size()};
    ASSERT_TRUE(node->write(64 * 1024, std::span<const iovec>(&w, 1), false));
    EXPECT_EQ(node->length(), 68u * 1024);
    ASSERT_TRUE(node->write_zeroes(68 * 1024, 4096, true));
    EXPECT_EQ(node->length(), 72u * 1024);
    EXPECT_EQ(client.log, (Log{"resize(69632)", "writev(65536,4096)", "resize(73728)", "write_zeroes(69632,4096)"}));
    client.log.clear();
    img().fail["resize"] = -ENOSPC;
    auto e = node->write(80 * 1024, std::span<const iovec>(&w, 1), false);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().sys_errno, ENOSPC);
    EXPECT_EQ(node->length(), 72u * 1024);
    EXPECT_EQ(client.log, (Log{"resize(86016)"}));
}

TEST_F(RbdNodeIo, Truncate) {
    ASSERT_TRUE(node->truncate(1 << 20));
    EXPECT_EQ(node->length(), 1u << 20);
    ASSERT_TRUE(node->truncate(4096)); // shrinking is the user's call (block_resize)
    EXPECT_EQ(node->length(), 4096u);
    img().fail["resize"] = -EDQUOT;
    auto e = node->truncate(1 << 30);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().msg, "Failed to resize file: Disk quota exceeded");
    EXPECT_EQ(e.error().sys_errno, EDQUOT);
    EXPECT_EQ(node->length(), 4096u);
}

TEST_F(RbdNodeIo, DiscardAndZeroesFlags) {
    ASSERT_TRUE(node->discard(4096, 8192));
    ASSERT_TRUE(node->write_zeroes(0, 4096, true));   // may_unmap: thin
    ASSERT_TRUE(node->write_zeroes(0, 4096, false));  // else thick-provisioned
    EXPECT_EQ(client.log, (Log{"discard(4096,8192)", "write_zeroes(0,4096)", "write_zeroes(0,4096,thick)"}));
    EXPECT_EQ(node->discard(60 * 1024, 8192).error().sys_errno, EINVAL);
}

TEST_F(RbdNodeIo, LargeRequestsAreSplit) {
    const uint64_t big = 2 * kRbdMaxRequest + 4096;
    ASSERT_TRUE(node->truncate(big + 4096));
    client.log.clear();
    ASSERT_TRUE(node->discard(4096, big));
    ASSERT_TRUE(node->write_zeroes(0, kRbdMaxRequest + 1, true));
    const std::string g = std::to_string(kRbdMaxRequest);
    EXPECT_EQ(client.log, (Log{"discard(4096," + g + ")", "discard(" + std::to_string(4096 + kRbdMaxRequest) + "," + g + ")",
                               "discard(" + std::to_string(4096 + 2 * kRbdMaxRequest) + ",4096)",
                               "write_zeroes(0," + g + ")", "write_zeroes(" + g + ",1)"}));
}

TEST_F(RbdNodeIo, ErrorsCarryTheErrno) {
    uint8_t b[512] = {};
    iovec v{b, sizeof b};
    std::span<const iovec> s(&v, 1);
    img().fail["readv"] = -EIO;
    EXPECT_EQ(node->read(0, s).error().sys_errno, EIO);
    img().fail["writev"] = -ENOSPC;
    auto w = node->write(0, s, false);
    EXPECT_EQ(w.error().sys_errno, ENOSPC);
    EXPECT_EQ(w.error().msg, "rbd write failed: No space left on device");
    img().fail["flush"] = -ESHUTDOWN;
    EXPECT_EQ(node->flush().error().sys_errno, ESHUTDOWN);
    img().fail["discard"] = -ENOTCONN;
    EXPECT_EQ(node->discard(0, 512).error().sys_errno, ENOTCONN);
    // Anything that is not an errno becomes EIO.
    img().fail["write_zeroes"] = -100000;
    EXPECT_EQ(node->write_zeroes(0, 512, true).error().sys_errno, EIO);
    img().fail.erase("writev");
    img().fail["flush"] = -EIO;
    EXPECT_EQ(node->write(0, s, true).error().sys_errno, EIO); // fua's flush failing fails the write
}

TEST_F(RbdNodeIo, Info) {
    NodeInfo ni = node->info();
    EXPECT_EQ(ni.format, "rbd");
    EXPECT_EQ(ni.virtual_size, 64u * 1024);
    EXPECT_EQ(ni.cluster_size, 4u << 20);
    EXPECT_EQ(ni.actual_size, -1);
    EXPECT_EQ(ni.format_specific, Json::parse(R"({"type":"rbd","data":{}})"));
    const uint8_t luks2[] = {'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 2};
    std::memcpy(img().data.data(), luks2, sizeof luks2);
    EXPECT_EQ(node->info().format_specific, Json::parse(R"({"type":"rbd","data":{"encryption-format":"luks2"}})"));
    // bdrv_refresh_filename: driver and strong options as a json: name, in QDict order.
    EXPECT_EQ(ni.filename, R"(json:{"pool": "p", "image": "i", "driver": "rbd", "namespace": ""})");
    EXPECT_EQ(node_filename(*node), ni.filename);
}

} // namespace
} // namespace nemu::block
