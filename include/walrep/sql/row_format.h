// walrep: how a table's rows are stored — the bytes after the heap tuple header.
//
// A compact binary format (PostgreSQL's heap tuple data in spirit, walrep's own bytes):
//   u16   natts, with 0x8000 set when some column is NULL
//   [null bitmap]  ceil(natts / 8) bytes, only with 0x8000: bit i set = column i is not NULL
//   data  the non-NULL columns in order:
//     fixed-width types in their binary form (little-endian), aligned to their size relative
//       to the data's start (zero padding): bool 1; int2 2; int4, oid, date, float4 4; int8,
//       timestamp, timestamptz, pg_lsn, float8 8; interval 16 (micros, days, months; aligned 8)
//     variable-length values with a length header, unaligned: one byte (len << 1 | 1) for up to
//       127 bytes, else four bytes (len << 1, little-endian); then the bytes: text, varchar,
//       bpchar, name, bytea as they are; numeric as i16 scale and the mantissa's two's-
//       complement bytes (little-endian, as few as hold it); any other type as its text form.
// Columns past natts (added by ALTER TABLE after the row was written) read as the column's
// `missing` value, or NULL. The heap, its WAL records and redo carry these bytes unchanged.
// kCatalogVersion (global/walrep_catversion) names this format: a data directory written in
// another one is refused at start.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "walrep/catalog/catalog.h"
#include "walrep/common/status.h"
#include "walrep/sql/value.h"

namespace walrep::sql {

// `row` holds one value per column of `t`, of the column's type (as ToColumn makes them).
Result<std::string> EncodeRow(const catalog::TableDef& t, const std::vector<Value>& row);
Result<std::vector<Value>> DecodeRow(const catalog::TableDef& t, std::string_view bytes);

}  // namespace walrep::sql
