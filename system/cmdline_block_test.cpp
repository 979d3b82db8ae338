// -drive / -blockdev parsing: QEMU 7.2's messages, each checked live with qemu-system-x86_64.
#include "system/cmdline_block.h"

#include <gtest/gtest.h>

namespace nemu::cmdline {
namespace {

std::string drive_error(std::string_view text) {
    auto r = parse_drive(text);
    return r ? "(ok)" : r.error().msg;
}

TEST(CmdlineBlock, DriveErrors) {
    EXPECT_EQ(drive_error("file=r.raw,if=none,cache=bogus"), "invalid cache option");
    EXPECT_EQ(drive_error("file=r.raw,if=none,aio=bogus"), "invalid aio option");
    EXPECT_EQ(drive_error("file=r.raw,if=none,discard=bogus"), "Invalid discard option");
    EXPECT_EQ(drive_error("file=r.raw,if=none,detect-zeroes=bogus"), "invalid parameter value: bogus");
    EXPECT_EQ(drive_error("file=r.raw,if=none,werror=bogus"), "'bogus' invalid write error action");
    EXPECT_EQ(drive_error("file=r.raw,if=none,rerror=bogus"), "'bogus' invalid read error action");
    EXPECT_EQ(drive_error("file=r.raw,if=none,rerror=enospc"), "'enospc' invalid read error action");
    EXPECT_EQ(drive_error("file=r.raw,if=none,readonly=x"), "Parameter 'read-only' expects 'on' or 'off'");
    EXPECT_EQ(drive_error("file=r.raw,if=bogus"), "unsupported bus type 'bogus'");
    EXPECT_EQ(drive_error("file=r.raw,format=raw,if=none,aio=native"),
              "aio=native was specified, but it requires cache.direct=on, which was not specified.");
    EXPECT_NE(drive_error("file=r.raw").find("not supported yet"), std::string::npos);
    EXPECT_EQ(drive_error("file=r.raw,if=none,id=1x"),
              "Parameter 'id' expects an identifier\n"
              "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
}

TEST(CmdlineBlock, DriveValues) {
    auto d = parse_drive("file=/x.img,if=none,id=d0,format=qcow2,cache=none,aio=threads,readonly=on,"
                         "discard=unmap,detect-zeroes=unmap,werror=stop,rerror=ignore,bogus=1");
    ASSERT_TRUE(d) << d.error().msg;
    EXPECT_EQ(d->id, "d0");
    EXPECT_EQ(d->file, "/x.img");
    EXPECT_EQ(d->format, "qcow2");
    EXPECT_TRUE(d->flags.cache.direct);
    EXPECT_TRUE(d->backend.write_cache);
    EXPECT_EQ(d->flags.aio, block::AioMode::Threads);
    EXPECT_TRUE(d->flags.read_only);
    EXPECT_EQ(d->flags.discard, block::DiscardMode::Unmap);
    EXPECT_EQ(d->flags.detect_zeroes, block::DetectZeroes::Unmap);
    EXPECT_EQ(d->backend.on_write_error, block::OnError::Stop);
    EXPECT_EQ(d->backend.on_read_error, block::OnError::Ignore);
    ASSERT_EQ(d->format_options.size(), 1u);
    EXPECT_EQ(d->format_options[0].first, "bogus");
    auto wt = parse_drive("file=/x,if=none,cache=writethrough");
    ASSERT_TRUE(wt);
    EXPECT_FALSE(wt->backend.write_cache);
}

TEST(CmdlineBlock, DriveThrottlingAndSnapshot) {
    auto d = parse_drive("file=/x,if=none,iops=10,throttling.bps-read=1000,throttling.bps-read-max=2000,"
                         "throttling.bps-read-max-length=3,iops_size=0x200,group=g,snapshot=on,aio=io_uring");
    ASSERT_TRUE(d) << d.error().msg;
    EXPECT_EQ(d->throttle.iops, 10u);
    EXPECT_EQ(d->throttle.bps_rd, 1000u);
    EXPECT_EQ(d->throttle.bps_rd_max, 2000u);
    EXPECT_EQ(d->throttle.bps_rd_max_length, 3u);
    EXPECT_EQ(d->throttle.iops_size, 512u);
    EXPECT_EQ(d->throttle.group, "g");
    EXPECT_TRUE(d->throttle.enabled());
    EXPECT_TRUE(d->format_options.empty());
    EXPECT_TRUE(d->snapshot && d->snapshot_given);
    EXPECT_TRUE(d->backend.aio_explicit);
    auto plain = parse_drive("file=/x,if=none");
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->throttle.enabled());
    EXPECT_FALSE(plain->snapshot_given);
    EXPECT_FALSE(plain->backend.aio_explicit);
    auto bogus = parse_drive("file=/x,if=none,throttling.bogus=1");
    ASSERT_TRUE(bogus);
    ASSERT_EQ(bogus->format_options.size(), 1u);
    EXPECT_EQ(bogus->format_options[0].first, "throttling.bogus");
    auto both = parse_drive("file=/x,if=none,bps=1,throttling.bps-total=2");
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().msg, "'throttling.bps-total' and its alias 'bps' can't be used at the same time");
    auto bad = parse_drive("file=/x,if=none,throttling.iops-total-max=5");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().msg, "bps_max/iops_max require corresponding bps/iops values");
}

TEST(CmdlineBlock, BlockdevKeyvalTyping) {
    auto j = parse_blockdev("driver=qcow2,node-name=n,read-only=on,cache.direct=on,backing=,"
                            "file.driver=file,file.filename=/x,file.aio-max-batch=4,l2-cache-size=65536");
    ASSERT_TRUE(j) << j.error().msg;
    EXPECT_EQ(dump_json(*j),
              R"({"driver":"qcow2","node-name":"n","read-only":true,"cache":{"direct":true},"backing":null,)"
              R"("file":{"driver":"file","filename":"/x","aio-max-batch":4},"l2-cache-size":65536})");
    EXPECT_EQ(parse_blockdev("driver=file,filename=r.raw,node-name=x,read-only=bogus").error().msg,
              "Parameter 'read-only' expects 'on' or 'off'");
    EXPECT_EQ(parse_blockdev("driver=raw,file=f,offset=-1").error().msg,
              "Parameter 'offset' expects a non-negative number below 2^64\n"
              "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
              "and exabytes, respectively.");
}

TEST(CmdlineBlock, BlockdevJsonAsLibvirt) {
    auto j = parse_blockdev(
        R"({"node-name":"libvirt-1-format","read-only":false,"driver":"qcow2","file":"libvirt-1-storage","backing":null})");
    ASSERT_TRUE(j) << j.error().msg;
    EXPECT_TRUE((*j)["backing"].is_null());
    EXPECT_EQ((*j)["file"], "libvirt-1-storage");
}

} // namespace
} // namespace nemu::cmdline
