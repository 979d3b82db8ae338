#include "block/file_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "block/file_node.h"

namespace nemu::block {
namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nemu-file-lock-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        path = p ? p : "";
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

std::pair<int, std::string> run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!f) return {-1, out};
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    const int st = ::pclose(f);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string make_image(const TempDir& d) {
    const std::string p = d.file("disk.img");
    auto [rc, out] = run("qemu-img create -q -f raw " + p + " 1M");
    EXPECT_EQ(rc, 0) << out;
    return p;
}

std::string lock_error(const std::string& what, const std::string& path) {
    return "Failed to get " + what + " lock\nIs another process using the image [" + path + "]?";
}

// A QEMU 7.2 guest with the image as a virtio-blk disk (a drive without a device takes no
// write permission), stopped (-S). Ready once QMP answers a command: commands run in the
// main loop, which starts only after the devices are realized and their locks taken (the
// greeting alone can come earlier).
class QemuHolder {
public:
    QemuHolder(const std::string& image, bool read_only) {
        int out[2], in[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) return;
        const std::string drive =
            "file=" + image + ",if=none,format=raw,id=d0" + (read_only ? ",readonly=on" : "");
        m_pid = ::fork();
        if (m_pid == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            ::dup2(out[1], 2);
            ::execlp("qemu-system-x86_64", "qemu-system-x86_64", "-M", "q35", "-accel", "tcg", "-display", "none",
                     "-nodefaults", "-S", "-qmp", "stdio", "-drive", drive.c_str(), "-device",
                     "virtio-blk-pci,drive=d0", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(out[1]);
        ::close(in[0]);
        m_in = in[1];
        FILE* f = ::fdopen(out[0], "r");
        std::array<char, 4096> line{};
        const std::string caps = "{\"execute\":\"qmp_capabilities\"}\n";
        if (::write(m_in, caps.data(), caps.size()) != static_cast<ssize_t>(caps.size())) return;
        while (f && std::fgets(line.data(), line.size(), f)) {
            m_output += line.data();
            if (m_output.find("\"return\"") != std::string::npos) {
                m_ready = true;
                break;
            }
        }
        m_out = f;
    }
    ~QemuHolder() {
        if (m_pid > 0) {
            ::kill(m_pid, SIGTERM);
            int st;
            ::waitpid(m_pid, &st, 0);
        }
        if (m_out) std::fclose(m_out);
        if (m_in >= 0) ::close(m_in);
    }
    bool ready() const { return m_ready; }
    const std::string& output() const { return m_output; }

private:
    pid_t m_pid = -1;
    int m_in = -1;
    FILE* m_out = nullptr;
    bool m_ready = false;
    std::string m_output;
};

OpenFlags rw_flags() { return OpenFlags{}; }
OpenFlags ro_flags() {
    OpenFlags f;
    f.read_only = true;
    return f;
}

TEST(FileLock, PermissionNames) {
    EXPECT_EQ(perm_name(0), "consistent read");
    EXPECT_EQ(perm_name(1), "write");
    EXPECT_EQ(perm_name(2), "write unchanged");
    EXPECT_EQ(perm_name(3), "resize");
    EXPECT_EQ(perm_name(4), "");
}

// The same bytes a QEMU 7.2 guest disk holds (seen in /proc/locks): rw 100,101,201; ro 100,201.
TEST(FileLock, HoldsQemusBytes) {
    TempDir d;
    const std::string p = make_image(d);
    UniqueFd probe(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(probe);
    auto held = [&](uint64_t b) { return lock_byte_held_by_other(probe.get(), b).value_or(false); };
    {
        auto n = FileNode::open(FileOptions{p, rw_flags(), false});
        ASSERT_TRUE(n) << n.error().msg;
        ASSERT_NE((*n)->lock(), nullptr);
        EXPECT_TRUE(held(100));
        EXPECT_TRUE(held(101));
        EXPECT_FALSE(held(102));
        EXPECT_FALSE(held(103));
        EXPECT_FALSE(held(200));
        EXPECT_TRUE(held(201));
        EXPECT_FALSE(held(202));
        EXPECT_FALSE(held(203));
    }
    for (uint64_t b : {100, 101, 201}) EXPECT_FALSE(held(b)) << b; // released on close
    {
        auto n = FileNode::open(FileOptions{p, ro_flags(), false});
        ASSERT_TRUE(n) << n.error().msg;
        EXPECT_TRUE(held(100));
        EXPECT_FALSE(held(101));
        EXPECT_TRUE(held(201));
    }
    OpenFlags off;
    off.locking = Locking::Off;
    auto n = FileNode::open(FileOptions{p, off, false});
    ASSERT_TRUE(n);
    EXPECT_EQ((*n)->lock(), nullptr);
    EXPECT_FALSE(held(100));
    EXPECT_FALSE(held(201));
}

TEST(FileLock, SecondWriterInNemuIsRefused) {
    TempDir d;
    const std::string p = make_image(d);
    auto a = FileNode::open(FileOptions{p, rw_flags(), false});
    ASSERT_TRUE(a);
    auto b = FileNode::open(FileOptions{p, rw_flags(), false});
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().msg, lock_error("\"write\"", p));
    // A reader does not share write either (QEMU's read-only guest disk): refused too.
    auto c = FileNode::open(FileOptions{p, ro_flags(), false});
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().msg, lock_error("shared \"write\"", p));
}

// nemu holds the image: QEMU's tools that want to write are refused with QEMU's own message;
// read-only inspection (qemu-img info, qemu-io -r) works, exactly as against a running QEMU.
TEST(FileLock, QemuToolsSeeNemusLock) {
    TempDir d;
    const std::string p = make_image(d);
    {
        auto n = FileNode::open(FileOptions{p, rw_flags(), false});
        ASSERT_TRUE(n) << n.error().msg;
        auto [rc, out] = run("qemu-io -f raw -c 'write 0 512' " + p);
        EXPECT_NE(rc, 0);
        EXPECT_NE(out.find("Failed to get \"write\" lock"), std::string::npos) << out;
        EXPECT_NE(out.find("Is another process using the image [" + p + "]?"), std::string::npos) << out;
        auto [rc2, out2] = run("qemu-img info -f raw --output=json " + p);
        EXPECT_EQ(rc2, 0) << out2;
        auto [rc3, out3] = run("qemu-io -r -f raw -c 'read 0 512' " + p);
        EXPECT_EQ(rc3, 0) << out3;
    }
    {
        auto n = FileNode::open(FileOptions{p, ro_flags(), false});
        ASSERT_TRUE(n) << n.error().msg;
        auto [rc, out] = run("qemu-io -f raw -c 'write 0 512' " + p);
        EXPECT_NE(rc, 0);
        EXPECT_NE(out.find("Failed to get \"write\" lock"), std::string::npos) << out;
    }
    auto [rc, out] = run("qemu-io -f raw -c 'write 0 512' " + p);
    EXPECT_EQ(rc, 0) << out; // released
}

// A QEMU guest holds the image: nemu's open fails as a second QEMU's would.
TEST(FileLock, NemuSeesQemusLock) {
    TempDir d;
    const std::string p = make_image(d);
    {
        QemuHolder q(p, false);
        ASSERT_TRUE(q.ready()) << q.output();
        auto rw = FileNode::open(FileOptions{p, rw_flags(), false});
        ASSERT_FALSE(rw);
        EXPECT_EQ(rw.error().msg, lock_error("\"write\"", p));
        auto ro = FileNode::open(FileOptions{p, ro_flags(), false});
        ASSERT_FALSE(ro);
        EXPECT_EQ(ro.error().msg, lock_error("shared \"write\"", p));
        OpenFlags off;
        off.locking = Locking::Off;
        EXPECT_TRUE(FileNode::open(FileOptions{p, off, false}));
    }
    {
        QemuHolder q(p, true); // a read-only guest disk also refuses writers
        ASSERT_TRUE(q.ready()) << q.output();
        auto rw = FileNode::open(FileOptions{p, rw_flags(), false});
        ASSERT_FALSE(rw);
        EXPECT_EQ(rw.error().msg, lock_error("\"write\"", p));
    }
    auto n = FileNode::open(FileOptions{p, rw_flags(), false});
    EXPECT_TRUE(n) << n.error().msg;
}

} // namespace
} // namespace nemu::block
