// open_blockdev / open_image: QEMU 7.2's option checks and errors (each text checked live
// with qemu-system-x86_64 -blockdev / blockdev-add), and opening real images qemu-img made.
#include "block/block_open.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "block/block_format.h"

namespace nemu::block {
namespace {

class BlockOpenTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/nemu-block-open-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_dir = tmpl;
        std::ofstream(m_dir + "/r.raw") << std::string(4096, 'x');
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    bool qemu_img(const std::string& args) {
        return std::system(("qemu-img " + args + " >/dev/null 2>&1").c_str()) == 0;
    }
    static NodeResolver none() {
        return [](std::string_view) { return std::shared_ptr<BlockNode>(); };
    }
    std::string error_of(const std::string& json, NodeResolver r = none()) {
        auto j = parse_json(json);
        EXPECT_TRUE(j) << json;
        auto n = open_blockdev(*j, r);
        return n ? std::string("(opened)") : n.error().msg;
    }
    std::string m_dir;
};

TEST_F(BlockOpenTest, DriverErrors) {
    EXPECT_EQ(error_of(R"({"driver":"foo","node-name":"x"})"), "Parameter 'driver' does not accept value 'foo'");
    EXPECT_EQ(error_of(R"({"node-name":"x"})"), "Parameter 'driver' is missing");
    EXPECT_EQ(error_of(R"({"driver":1})"), "Invalid parameter type for 'driver', expected: string");
    EXPECT_EQ(error_of(R"({"driver":"file","node-name":"f4"})"), "Parameter 'filename' is missing");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/x","bogus":1})"), "Parameter 'bogus' is unexpected");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/x","read-only":"on"})"),
              "Invalid parameter type for 'read-only', expected: boolean");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/x","discard":"bogus"})"),
              "Parameter 'discard' does not accept value 'bogus'");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/x","cache":{"direct":true,"x":1}})"),
              "Parameter 'cache.x' is unexpected");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/x","detect-zeroes":"unmap"})"),
              "setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
}

TEST_F(BlockOpenTest, NodeNames) {
    std::string f = m_dir + "/r.raw";
    EXPECT_EQ(error_of(R"({"driver":"file","filename":")" + f + R"(","node-name":"1x"})"), "Invalid node-name: '1x'");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":")" + f + R"(","node-name":"#block1"})"),
              "Invalid node-name: '#block1'");
    EXPECT_EQ(error_of(R"({"driver":"file","filename":")" + f + R"(","node-name":")" + std::string(37, 'a') + "\"}"),
              "Node name too long");
    auto taken = [f](std::string_view n) -> std::shared_ptr<BlockNode> {
        if (n != "a") return nullptr;
        auto r = open_blockdev(*parse_json(R"({"driver":"file","read-only":true,"filename":")" + f + "\"}"), none());
        return r ? *r : nullptr;
    };
    EXPECT_EQ(error_of(R"({"driver":"file","filename":")" + f + R"(","node-name":"a"})", taken),
              "Duplicate nodes with node-name='a'");
}

TEST_F(BlockOpenTest, FileNode) {
    EXPECT_EQ(error_of(R"({"driver":"file","filename":"/nonexistent/x"})"),
              "Could not open '/nonexistent/x': No such file or directory");
    auto j = parse_json(R"({"driver":"file","filename":")" + m_dir + R"(/r.raw","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap","cache":{"direct":false,"no-flush":false}})");
    ASSERT_TRUE(j);
    auto n = open_blockdev(*j, none());
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ((*n)->node_name(), "libvirt-1-storage");
    EXPECT_EQ((*n)->driver(), "file");
    EXPECT_EQ((*n)->length(), 4096u);
    EXPECT_FALSE((*n)->read_only());
}

TEST_F(BlockOpenTest, FormatReferences) {
    if (!find_block_format("raw")) GTEST_SKIP() << "raw format not built yet";
    EXPECT_EQ(error_of(R"({"driver":"raw","node-name":"f5","file":"nonode"})"),
              "Cannot find device='nonode' nor node-name='nonode'");
    EXPECT_EQ(error_of(R"({"driver":"raw","node-name":"f6","file":{"driver":"file","filename":"/x"},"offset":-1})"),
              "Parameter 'offset' expects a non-negative number below 2^64");
    auto j = parse_json(R"({"driver":"raw","node-name":"r","file":{"driver":"file","filename":")" + m_dir + R"(/r.raw"}})");
    auto n = open_blockdev(*j, none());
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ((*n)->driver(), "raw");
    ASSERT_NE((*n)->file_child(), nullptr);
    EXPECT_EQ((*n)->file_child()->driver(), "file");
    EXPECT_TRUE((*n)->file_child()->node_name().empty()); // the graph names it
}

TEST_F(BlockOpenTest, ProbeAndChains) {
    if (!find_block_format("qcow2")) GTEST_SKIP() << "qcow2 format not built yet";
    ASSERT_TRUE(qemu_img("create -f qcow2 " + m_dir + "/base.qcow2 1M"));
    ASSERT_TRUE(qemu_img("create -f qcow2 -b base.qcow2 -F qcow2 " + m_dir + "/top.qcow2"));
    auto n = open_image(m_dir + "/top.qcow2", "", OpenFlags{});
    ASSERT_TRUE(n) << n.error().msg;
    EXPECT_EQ((*n)->driver(), "qcow2");
    ASSERT_NE((*n)->backing_child(), nullptr);
    EXPECT_TRUE((*n)->backing_child()->read_only());
    EXPECT_EQ(open_image(m_dir + "/r.raw", "qcow2", OpenFlags{}).error().msg, "Image is not in qcow2 format");
    // A loop: base's backing file is top. The open chain holds base's image lock, which
    // qemu-img rebase needs for writing: close it first.
    n = open_image(m_dir + "/r.raw", "raw", OpenFlags{});
    ASSERT_TRUE(qemu_img("rebase -u -b top.qcow2 -F qcow2 " + m_dir + "/base.qcow2"));
    auto loop = open_image(m_dir + "/top.qcow2", "", OpenFlags{});
    ASSERT_FALSE(loop);
    EXPECT_NE(loop.error().msg.find("loop"), std::string::npos) << loop.error().msg;
    // backing: null opens the overlay alone.
    auto j = parse_json(R"({"driver":"qcow2","node-name":"t","backing":null,"file":{"driver":"file","filename":")" + m_dir + R"(/top.qcow2"}})");
    auto alone = open_blockdev(*j, none());
    ASSERT_TRUE(alone) << alone.error().msg;
    EXPECT_EQ((*alone)->backing_child(), nullptr);
}

// -blockdev file.aio=io_uring where the kernel refuses a ring (the probe injected): QEMU 7.2's
// error at open (checked live under strace's io_uring_setup fault injection), for the file
// node alone and nested under raw/qcow2; the default and aio=threads never probe.
TEST_F(BlockOpenTest, ExplicitIoUringProbedAtOpen) {
    int probes = 0;
    const UringProbe refuse = [&probes]() -> Result<> {
        ++probes;
        return io_error(EPERM, std::string(kUringUnavailable));
    };
    auto open_with = [&](const std::string& json) {
        auto j = parse_json(json);
        EXPECT_TRUE(j) << json;
        return open_blockdev(*j, none(), refuse);
    };
    const std::string f = m_dir + "/r.raw";
    ASSERT_TRUE(qemu_img("create -q -f qcow2 " + m_dir + "/q.qcow2 1M"));
    for (const std::string& json :
         {R"({"driver":"file","filename":")" + f + R"(","aio":"io_uring"})",
          R"({"driver":"raw","file":{"driver":"file","filename":")" + f + R"(","aio":"io_uring"}})",
          R"({"driver":"qcow2","file":{"driver":"file","filename":")" + m_dir + R"(/q.qcow2","aio":"io_uring"}})"}) {
        auto n = open_with(json);
        ASSERT_FALSE(n) << json;
        EXPECT_EQ(n.error().msg, "Unable to use io_uring: failed to init linux io_uring ring");
    }
    EXPECT_EQ(probes, 3);
    // A missing file is reported first, as QEMU opens the file before the ring.
    auto missing = open_with(R"({"driver":"file","filename":")" + m_dir + R"(/nope","aio":"io_uring"})");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().msg.find("No such file or directory"), std::string::npos);
    EXPECT_EQ(probes, 3);

    {
        auto def = open_with(R"({"driver":"raw","file":{"driver":"file","filename":")" + f + R"("}})");
        ASSERT_TRUE(def) << def.error().msg;
        EXPECT_FALSE((*def)->file_child()->open_aio());
    }
    auto thr = open_with(R"({"driver":"raw","file":{"driver":"file","filename":")" + f + R"(","aio":"threads"}})");
    ASSERT_TRUE(thr) << thr.error().msg;
    EXPECT_EQ((*thr)->file_child()->open_aio(), AioMode::Threads);
    EXPECT_EQ(probes, 3);
    thr = fail("closed"); // its lock

    // A kernel that allows the ring: the node opens and remembers its explicit mode.
    auto j = parse_json(R"({"driver":"file","filename":")" + f + R"(","aio":"io_uring"})");
    auto ok = open_blockdev(*j, none(), []() -> Result<> { return {}; });
    ASSERT_TRUE(ok) << ok.error().msg;
    EXPECT_EQ((*ok)->open_aio(), AioMode::IoUring);
}

TEST_F(BlockOpenTest, UnknownFormat) {
    EXPECT_EQ(open_image(m_dir + "/r.raw", "foo", OpenFlags{}).error().msg, "Unknown driver 'foo'");
    EXPECT_EQ(open_image(m_dir + "/nope", "", OpenFlags{}).error().msg,
              "Could not open '" + m_dir + "/nope': No such file or directory");
}

} // namespace
} // namespace nemu::block
