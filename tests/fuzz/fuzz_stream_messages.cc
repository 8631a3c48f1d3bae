// Fuzz target: both ends of a replication stream fed hostile CopyData. Each message of the input
// is [side byte][2-byte length][payload]: side even goes to the walsender's state machine (what a
// standby sends: 'r' standby status, 'h' hot-standby feedback, CopyDone, Terminate), side odd to
// the walreceiver's (what a primary sends: 'w' XLogData, 'k' keepalive). Every action the
// machines produce is consumed as the real loops would.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "walrep/replication/stream_protocol.h"

using walrep::Lsn;
using walrep::replication::ReceiveAction;
using walrep::replication::ReceiveProtocol;
using walrep::replication::SendAction;
using walrep::replication::SendProtocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  walrep::TimestampTz now = 800000000000000;
  Lsn start(0x3000000);
  SendProtocol sender(start, SendProtocol::Config{}, now);
  ReceiveProtocol receiver(start, ReceiveProtocol::Config{60000, 10000, true, 64 * 1024}, now);
  sender.OnSendable(Lsn(0x3100000));
  std::vector<SendAction> sent;
  std::vector<ReceiveAction> received;
  receiver.OnStart(&received);
  size_t pos = 0;
  while (pos + 3 <= size) {
    uint8_t side = data[pos];
    size_t len = static_cast<size_t>(data[pos + 1]) << 8 | data[pos + 2];
    pos += 3;
    len = std::min(len, size - pos);
    std::string_view msg(reinterpret_cast<const char*>(data) + pos, len);
    pos += len;
    now += 1000 * (side >> 4);  // the clock moves too: timeouts and status intervals
    if (side % 2 == 0) {
      char type = msg.empty() ? 'd' : msg[0];
      std::string_view body = msg.empty() ? msg : msg.substr(1);
      if (!sender.OnMessage(type, body, now, &sent).ok()) break;
      sender.OnTick(now, &sent);
      if (side & 2) sender.OnTimelineEnd(Lsn(0x3080000), 2);
    } else {
      if (!receiver.OnCopyData(msg, now, &received).ok()) break;
      for (const auto& a : received) {
        // The walreceiver writes `data` at `from`: both must describe the message's WAL.
        if (a.kind == ReceiveAction::Kind::kWrite && a.data.size() > size) __builtin_trap();
      }
      receiver.OnIdle(&received);
      receiver.OnTick(now, &received);
    }
    (void)sender.WaitMs(now);
    (void)receiver.WaitMs(now);
    sent.clear();
    received.clear();
  }
  return 0;
}
