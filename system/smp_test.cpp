// -smp; expectations from "qemu-system-x86_64 -M pc -accel tcg -smp <x>" (QEMU 7.2), whose
// machine props are: dies yes, clusters no, max 255, name pc-i440fx-7.2.
#include "system/cmdline_smp.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

const SmpMachineProps kPc{"pc-i440fx-7.2", 1, 255, true, false, false};

Result<SmpOptions> smp(std::vector<std::string> args) { return parse_smp_options(args, kPc); }

TEST(Smp, ComputesMissingValues) {
    auto r = smp({"4"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->cpus, 4u);
    EXPECT_EQ(r->cores, 4u); // cores preferred over sockets since 6.2
    EXPECT_EQ(r->sockets, 1u);
    EXPECT_EQ(r->maxcpus, 4u);
    r = smp({"sockets=2,dies=2"}); // runs in QEMU: 4 cpus
    ASSERT_TRUE(r);
    EXPECT_EQ(r->cpus, 4u);
    r = smp({"4,maxcpus=8,sockets=2"});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->cores, 4u);
    r = smp({"0x4"}); // base 0 integers: runs
    EXPECT_EQ(r->cpus, 4u);
    r = smp({"0"}); // runs, with a deprecation warning
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->zero_given);
    EXPECT_EQ(r->cpus, 1u);
    r = smp({"2", "cores=1"}); // merged: 2 cpus, 2 sockets
    EXPECT_EQ(r->sockets, 2u);
}

TEST(Smp, Errors) {
    // -smp 4,sockets=3,cores=1,threads=1
    EXPECT_EQ(smp({"4,sockets=3,cores=1,threads=1"}).error().msg,
              "Invalid CPU topology: product of the hierarchy must match maxcpus: sockets (3) * "
              "dies (1) * cores (1) * threads (1) != maxcpus (4)");
    // -smp 2,sockets=2,cores=2
    EXPECT_EQ(smp({"2,sockets=2,cores=2"}).error().msg,
              "Invalid CPU topology: product of the hierarchy must match maxcpus: sockets (2) * "
              "dies (1) * cores (2) * threads (0) != maxcpus (2)");
    // -smp 4,maxcpus=2
    EXPECT_EQ(smp({"4,maxcpus=2"}).error().msg,
              "Invalid CPU topology: maxcpus must be equal to or greater than smp: sockets (1) * "
              "dies (1) * cores (2) * threads (1) == maxcpus (2) < smp_cpus (4)");
    // -smp 8,clusters=2
    EXPECT_EQ(smp({"8,clusters=2"}).error().msg, "clusters not supported by this machine's CPU topology");
    // -smp x ; -smp 4,cores=x ; -smp 4,foo=1
    EXPECT_EQ(smp({"x"}).error().msg, "Parameter 'smp.cpus' expects integer");
    EXPECT_EQ(smp({"4,cores=x"}).error().msg, "Parameter 'smp.cores' expects integer");
    EXPECT_EQ(smp({"4,foo=1"}).error().msg, "Parameter 'smp.foo' is unexpected");
    // -smp 1000 ; -smp -1 ; -smp 4,maxcpus=300
    EXPECT_EQ(smp({"1000"}).error().msg,
              "Invalid SMP CPUs 1000. The max CPUs supported by machine 'pc-i440fx-7.2' is 255");
    EXPECT_EQ(smp({"-1"}).error().msg,
              "Invalid SMP CPUs -1. The max CPUs supported by machine 'pc-i440fx-7.2' is 255");
    EXPECT_EQ(smp({"4,maxcpus=300"}).error().msg,
              "Invalid SMP CPUs 300. The max CPUs supported by machine 'pc-i440fx-7.2' is 255");
    // -M none -smp 2
    SmpMachineProps none{"none", 1, 1, false, false, false};
    EXPECT_EQ(parse_smp_options(std::vector<std::string>{"2"}, none).error().msg,
              "Invalid SMP CPUs 2. The max CPUs supported by machine 'none' is 1");
    // Wrapping products never divide by zero.
    EXPECT_FALSE(smp({"sockets=65536,cores=65536,threads=0,cpus=4"}));
}

} // namespace
} // namespace nemu::cmdline
