// virtio-blk request path (virtio 1.2, 5.2.6): kicks, chain parsing and validation,
// submission to the BlockBackend with the guest's buffers, completion and interrupts.
// Thread: the device's home loop only.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "block/block_backend.h"
#include "block/block_node.h"
#include "hw/virtio/virtio_blk.h"
#include "hw/virtio/virtqueue.h"
#include "util/event_fd.h"
#include "util/little_endian.h"

namespace nemu::hw::virtio {

struct VirtioBlk::Request {
    Queue* q = nullptr;
    DescChain chain;
    uint8_t* status = nullptr;   // the chain's last writable byte (5.2.6: the status field)
    bool is_read = false;        // which error policy applies: rerror or werror
};

namespace {

uint8_t* last_writable_byte(const DescChain& c) {
    for (auto it = c.writable.rbegin(); it != c.writable.rend(); ++it)
        if (it->iov_len) return static_cast<uint8_t*>(it->iov_base) + it->iov_len - 1;
    return nullptr;
}

} // namespace

void VirtioBlk::on_kick(Queue& q) {
    (void)q.kick->drain();
    process_queue(q);
}

void VirtioBlk::flush_notify(Queue& q) {
    if (!q.pending_notify) return;
    q.pending_notify = false;
    if (q.vq->should_notify() && m_act.interrupt) m_act.interrupt->notify_queue(q.index);
}

void VirtioBlk::process_queue(Queue& q) {
    if (m_broken) return;
    // Every request popped in this pass reaches the disk in one submission when the pass
    // ends (QEMU's virtio-blk plugs around handle_vq the same way).
    block::ScopedPlug plug(*m_backend);
    // 2.7.10 / 2.8.21: while draining, ask the driver not to kick.
    q.vq->enable_notification(false);
    for (;;) {
        for (;;) {
            auto popped = q.vq->pop();
            if (!popped) {
                mark_broken(popped.error().msg);
                return flush_notify(q);
            }
            if (!*popped) break;
            if (!start_request(q, std::move(**popped))) return flush_notify(q);
        }
        if (!q.vq->rearm_notification()) break;
    }
    flush_notify(q);
}

bool VirtioBlk::start_request(Queue& q, DescChain chain) {
    // 5.2.6: the header is the first 16 device-readable bytes, the status the last
    // device-writable byte. Without them the driver broke the rules (QEMU: virtio_error).
    if (chain.readable_bytes < kBlkReqHeaderBytes) {
        mark_broken("virtio-blk request outhdr too short");
        return false;
    }
    uint8_t* status = last_writable_byte(chain);
    if (!status) {
        mark_broken("virtio-blk request inhdr too short");
        return false;
    }
    uint8_t hdr[kBlkReqHeaderBytes];
    block::iov_to_buf(chain.readable, 0, hdr);
    const uint32_t type = static_cast<uint32_t>(load_le(hdr, 4));
    const uint64_t sector = load_le(hdr + 8, 8);

    auto req = std::make_shared<Request>();
    req->q = &q;
    req->status = status;
    req->chain = std::move(chain);
    const DescChain& c = req->chain;
    const uint64_t out_data = c.readable_bytes - kBlkReqHeaderBytes;   // after the header
    const uint64_t in_data = c.writable_bytes - 1;                     // before the status

    // QEMU virtio_blk_sect_range_ok: within the disk, aligned to the logical block size, and
    // no larger than the block layer takes in one request. A bad range is the guest's I/O
    // error, not a broken device.
    auto range_ok = [&](uint64_t sec, uint64_t bytes) {
        uint64_t nb = bytes / kBlkSectorSize;
        if (nb > kBlkMaxRequestSectors || sec > m_capacity || nb > m_capacity - sec) return false;
        return (sec * kBlkSectorSize) % m_blk_size == 0 && bytes % m_blk_size == 0;
    };

    block::BlockRequest br;
    switch (type) {
    case kBlkTIn:
    case kBlkTOut: {
        req->is_read = type == kBlkTIn;
        br.op = req->is_read ? block::BlockOp::Read : block::BlockOp::Write;
        br.iov = req->is_read ? block::iov_slice(c.writable, 0, in_data)
                              : block::iov_slice(c.readable, kBlkReqHeaderBytes, out_data);
        uint64_t bytes = req->is_read ? in_data : out_data;
        if ((!req->is_read && m_read_only) || !range_ok(sector, bytes)) {
            complete(*req, kBlkSIoErr, false);
            return true;
        }
        br.offset = sector * kBlkSectorSize;
        br.length = bytes;
        break;
    }
    case kBlkTFlush:
        br.op = block::BlockOp::Flush;
        break;
    case kBlkTGetId: {
        // 5.2.6.1: 20 bytes, the serial zero-padded (not NUL-terminated when 20 long).
        uint8_t id[kBlkIdBytes] = {};
        std::memcpy(id, m_serial.data(), std::min<size_t>(m_serial.size(), kBlkIdBytes));
        uint64_t n = std::min<uint64_t>(in_data, kBlkIdBytes);
        block::iov_from_buf(c.writable, 0, std::span<const uint8_t>(id, n));
        complete(*req, kBlkSOk, false);
        return true;
    }
    case kBlkTDiscard:
    case kBlkTWriteZeroes: {
        const bool zeroes = type == kBlkTWriteZeroes;
        // One segment per request (max_discard_seg = max_write_zeroes_seg = 1, as QEMU):
        // more is unsupported, less is a malformed request.
        if ((zeroes ? !m_write_zeroes : !m_discard) || out_data > kBlkDwzSegmentBytes) {
            complete(*req, kBlkSUnsupp, false);
            return true;
        }
        if (out_data < kBlkDwzSegmentBytes) {
            mark_broken("virtio-blk discard/write_zeroes header too short");
            return false;
        }
        uint8_t seg[kBlkDwzSegmentBytes];
        block::iov_to_buf(c.readable, kBlkReqHeaderBytes, seg);
        const uint64_t seg_sector = load_le(seg, 8);
        const uint32_t num = static_cast<uint32_t>(load_le(seg + 8, 4));
        const uint32_t flags = static_cast<uint32_t>(load_le(seg + 12, 4));
        const uint64_t bytes = uint64_t(num) * kBlkSectorSize;
        uint8_t st = kBlkSOk;
        if (num > (zeroes ? m_max_write_zeroes_sectors : m_max_discard_sectors) || !range_ok(seg_sector, bytes))
            st = kBlkSIoErr;
        // 5.2.6.2: unknown flags, or UNMAP on a discard, are unsupported.
        else if ((flags & ~kBlkWriteZeroesFlagUnmap) || (!zeroes && (flags & kBlkWriteZeroesFlagUnmap)))
            st = kBlkSUnsupp;
        else if (m_read_only)
            st = kBlkSIoErr;
        if (st != kBlkSOk) {
            complete(*req, st, false);
            return true;
        }
        br.op = zeroes ? block::BlockOp::WriteZeroes : block::BlockOp::Discard;
        br.offset = seg_sector * kBlkSectorSize;
        br.length = bytes;
        br.may_unmap = (flags & kBlkWriteZeroesFlagUnmap) != 0;
        break;
    }
    default:
        complete(*req, kBlkSUnsupp, false);
        return true;
    }

    ++m_in_flight;
    m_backend->submit(std::move(br), [this, req](Result<> r) {
        --m_in_flight;
        if (r) return complete(*req, kBlkSOk, true);
        on_request_error(req, r.error().sys_errno ? r.error().sys_errno : EIO);
    });
    return true;
}

void VirtioBlk::complete(Request& req, uint8_t status, bool notify) {
    *req.status = status;
    // QEMU pushes the whole device-writable length (its in_len), data and status alike.
    uint32_t written = static_cast<uint32_t>(
        std::min<uint64_t>(req.chain.writable_bytes, std::numeric_limits<uint32_t>::max()));
    if (auto r = req.q->vq->push(req.chain, written); !r) return mark_broken(r.error().msg);
    if (!notify) {
        req.q->pending_notify = true;
        return;
    }
    if (req.q->vq->should_notify() && m_act.interrupt) m_act.interrupt->notify_queue(req.q->index);
}

void VirtioBlk::on_request_error(const std::shared_ptr<Request>& req, int err) {
    // The policy is the backend's: the device's own werror/rerror were applied to it at
    // realize (virtio_blk.cpp). Everything but a read is a write here, as in QEMU.
    const block::ErrorAction action = m_backend->error_action(req->is_read, err);
    switch (action) {
    case block::ErrorAction::Stop:
        // Parked with its chain: the driver still owns nothing back, and the retry parses the
        // request again from guest memory (QEMU virtio_blk_handle_request on s->rq).
        m_parked.push_back(req);
        break;
    case block::ErrorAction::Report:
        complete(*req, kBlkSIoErr, true);
        break;
    case block::ErrorAction::Ignore:
        complete(*req, kBlkSOk, true);
        break;
    }
    m_backend->report_error(req->is_read, action, err);
}

void VirtioBlk::retry_parked() {
    if (!m_active || m_broken || m_parked.empty()) return;
    std::vector<std::shared_ptr<Request>> parked;
    parked.swap(m_parked);
    for (auto& req : parked)
        if (!start_request(*req->q, std::move(req->chain))) break;
    for (auto& q : m_queues) flush_notify(*q);
}

void VirtioBlk::mark_broken(const std::string& why) {
    m_broken = true;
    if (m_act.broken) m_act.broken(why);
}

} // namespace nemu::hw::virtio
