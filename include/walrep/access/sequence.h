// walrep: sequences — one-page relations whose value advances outside transactions.
//
// Page 0 holds one item: last_value (i64), log_cnt (i64), is_called (u8). nextval() changes it
// in place under the page's exclusive lock and, as PostgreSQL's sequence.c does, WAL-logs only
// every 32nd value: the record carries a full image of the page with last_value set 32 values
// ahead (resource manager 130), so after a crash, or on a standby, the sequence resumes past
// every value it may have handed out. The first nextval() after a checkpoint logs too (the page
// must not be torn). A logging nextval() gives the transaction an xid, so its commit waits for
// the record's flush; any other nextval() flushes the record that covers its value if that has
// not happened yet (unlike PostgreSQL, where a transaction that wrote nothing else can commit a
// value whose covering record is later lost): a value returned to a committed transaction never
// comes back.
// Thread safety: thread-safe (the buffer's content lock serialises callers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "walrep/access/heap.h"

namespace walrep::access {

constexpr uint8_t kRmSequence = 130;  // walrep sequence resource manager
constexpr uint8_t kSequenceLog = 0x00;

struct SequenceOptions {
  int64_t start = 1, increment = 1, min = 1, max = INT64_MAX, cache = 1;
  bool cycle = false;
};

struct SequenceState {
  int64_t last_value = 1;
  int64_t log_cnt = 0;
  bool is_called = false;
};

// Initialises page 0 of a new, empty relation file with the start value (WAL-logged).
Status SequenceInit(HeapEnv& env, const RelFileNode& rel, int64_t start);
Result<SequenceState> SequenceRead(HeapEnv& env, const RelFileNode& rel);
// nextval(): 2200H when the sequence is exhausted and does not cycle (`name` for the message).
// Takes up to `fetch` values at once (CACHE): returns the first, *fetched tells how many; the
// caller hands out the rest with SequenceAdvance. All of them are covered by WAL that is durable
// before tx can commit: now when tx has no xid, at its commit's flush otherwise.
Result<int64_t> SequenceNext(HeapEnv& env, const RelFileNode& rel, const SequenceOptions& o,
                             TxnContext& tx, const std::string& name, int64_t fetch = 1,
                             int64_t* fetched = nullptr);
// The value after v (wrapping when the sequence cycles); none when it is exhausted.
std::optional<int64_t> SequenceAdvance(const SequenceOptions& o, int64_t v);
// setval(): 22003 when value lies outside [min, max].
Status SequenceSet(HeapEnv& env, const RelFileNode& rel, const SequenceOptions& o, TxnContext& tx,
                   const std::string& name, int64_t value, bool is_called);

}  // namespace walrep::access
