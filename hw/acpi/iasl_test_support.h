#pragma once
// Test support: run iasl (acpica-tools) on a table and check its output is clean; compile
// disassembled ASL back to AML. Shared by the hw/acpi table tests.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace nemu::acpi::test {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// ---- iasl plumbing ------------------------------------------------------------------------------

inline std::string find_iasl() {
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "");
    for (std::string dir; std::getline(ss, dir, ':');) {
        fs::path p = fs::path(dir) / "iasl";
        if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
    }
    return {};
}

struct CmdResult {
    int status = -1;
    std::string output;
};

inline CmdResult run(const std::string& cmd) {
    CmdResult r;
    FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!f) return r;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) r.output.append(buf, n);
    int st = ::pclose(f);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

inline std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline Bytes read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

class IaslTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_iasl = find_iasl();
        // Not a skip: without iasl the tables would go unchecked, so the suite must say so.
        ASSERT_FALSE(m_iasl.empty())
            << "iasl not found in PATH: run scripts/setup-deps.sh (Debian package acpica-tools)";
        std::string tmpl = (fs::temp_directory_path() / "nemu-acpi-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override {
        if (!m_dir.empty()) {
            std::error_code ec;
            fs::remove_all(m_dir, ec);
        }
    }

    // Writes `table` to <stem>.dat, disassembles it and returns the .dsl text; fails the test on a
    // non-zero exit or any Error/Warning line in iasl's output.
    std::string disassemble(const std::string& stem, const Bytes& table) {
        fs::path dat = m_dir / (stem + ".dat");
        std::ofstream(dat, std::ios::binary).write(reinterpret_cast<const char*>(table.data()),
                                                    static_cast<std::streamsize>(table.size()));
        auto r = run("cd '" + m_dir.string() + "' && '" + m_iasl + "' -d " + stem + ".dat");
        EXPECT_EQ(r.status, 0) << r.output;
        expect_clean(r.output);
        return read_text(m_dir / (stem + ".dsl"));
    }

    // Compiles <stem>.dsl back to AML, without iasl's optimizations (-oa: it would shorten our
    // absolute paths such as \_SB.PWRB and the AML would legitimately differ).
    Bytes compile(const std::string& stem) {
        auto r = run("cd '" + m_dir.string() + "' && '" + m_iasl + "' -oa -p " + stem + "_re " + stem + ".dsl");
        EXPECT_EQ(r.status, 0) << r.output;
        EXPECT_NE(r.output.find("0 Errors, 0 Warnings"), std::string::npos) << r.output;
        return read_bytes(m_dir / (stem + "_re.aml"));
    }

    static void expect_clean(const std::string& output) {
        std::stringstream ss(output);
        for (std::string line; std::getline(ss, line);) {
            EXPECT_EQ(line.find("Error"), std::string::npos) << line << "\n" << output;
            EXPECT_EQ(line.find("Warning"), std::string::npos) << line << "\n" << output;
        }
    }

    std::string m_iasl;
    fs::path m_dir;
};

} // namespace nemu::acpi::test
