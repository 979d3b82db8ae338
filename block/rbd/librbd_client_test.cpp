// The real librados/librbd with no cluster (none can exist on a build machine): the failures
// a user without one meets must be QEMU 7.2's errors, returned promptly, never a hang.
//   - conf=/nonexistent: rados_conf_read_file fails at once.
//   - an empty ceph.conf (no monitor anywhere): rados_connect fails at once with ENOENT after
//     librados's DNS SRV lookup for "ceph-mon" finds nothing.
//   - a monitor address nothing listens on: librados retries until client_mount_timeout
//     (300 s by default; QEMU waits as long). The test sets it to 1 s through the file name.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "block/rbd/rbd_node.h"

// glibc's resolver keeps a small buffer per thread from librados's DNS SRV lookup for
// monitors (res_send.c), which LeakSanitizer reports at exit in the ASan build; not ours.
extern "C" const char* __lsan_default_suppressions() { return "leak:res_context_send\n"; }
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }

namespace nemu::block {
namespace {

// librados reports failed monitor lookups on stderr and stdout as QEMU users see them; a
// passing test prints nothing, so both go to /dev/null for the duration of a call.
class QuietOutput {
public:
    QuietOutput() : m_out(::dup(1)), m_err(::dup(2)) {
        std::fflush(stdout);
        const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::close(null);
    }
    ~QuietOutput() {
        std::fflush(stdout);
        ::dup2(m_out, 1);
        ::dup2(m_err, 2);
        ::close(m_out);
        ::close(m_err);
    }
    QuietOutput(const QuietOutput&) = delete;
    QuietOutput& operator=(const QuietOutput&) = delete;

private:
    int m_out;
    int m_err;
};

class LibrbdNoCluster : public ::testing::Test {
protected:
    void SetUp() override {
        // CEPH_ARGS would add options (a monitor) behind the test's back.
        ::unsetenv("CEPH_ARGS");
        char dir[] = "/tmp/nemu-rbd-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        m_dir = dir;
        m_conf = m_dir + "/ceph.conf";
        const int fd = ::open(m_conf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        ::close(fd);
    }
    void TearDown() override {
        ::unlink(m_conf.c_str());
        ::rmdir(m_dir.c_str());
    }
    std::string open_error(const std::string& filename) {
        auto opts = parse_rbd_filename(filename);
        EXPECT_TRUE(opts);
        if (!opts) return "";
        QuietOutput quiet;
        auto r = open_rbd(*opts, OpenFlags{});
        EXPECT_FALSE(r);
        return r ? "" : r.error().msg;
    }
    std::string m_dir;
    std::string m_conf;
};

TEST_F(LibrbdNoCluster, MissingConfFile) {
    EXPECT_EQ(open_error("rbd:p/i:conf=/nonexistent"), "error reading conf file /nonexistent: No such file or directory");
}

TEST_F(LibrbdNoCluster, UnknownConfOption) {
    EXPECT_EQ(open_error("rbd:p/i:conf=" + m_conf + ":no_such_option=1"),
              "invalid conf option no_such_option: No such file or directory");
}

TEST_F(LibrbdNoCluster, NoMonitorFailsAtOnce) {
    EXPECT_EQ(open_error("rbd:p/i:conf=" + m_conf), "error connecting: No such file or directory");
}

TEST_F(LibrbdNoCluster, SilentMonitorIsBoundedByClientMountTimeout) {
    EXPECT_EQ(open_error("rbd:p/i:conf=" + m_conf + ":mon_host=127.0.0.1\\:1:client_mount_timeout=1"),
              "error connecting: Connection timed out");
}

TEST_F(LibrbdNoCluster, BlockdevOptionsReachLibrados) {
    // server= becomes mon_host: an address that does not parse fails rados_connect.
    auto opts = rbd_options_from_json(
        Json::parse(R"({"pool":"p","image":"i","conf":")" + m_conf + R"(","server":[{"host":"no.such.host.invalid","port":"1"}]})"),
        "");
    ASSERT_TRUE(opts) << opts.error().msg;
    QuietOutput quiet;
    auto r = open_rbd(*opts, OpenFlags{});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().msg, "error connecting: Invalid argument");
}

} // namespace
} // namespace nemu::block
