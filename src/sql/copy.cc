// walrep: COPY table FROM STDIN / TO STDOUT in PostgreSQL's text and CSV formats.
#include <fmt/format.h>

#include "sql_internal.h"
#include "walrep/common/strings.h"

namespace walrep::sql {

namespace {

using catalog::TableDef;

struct CopyOptions {
  bool csv = false;
  char delimiter = '\t';
  std::string null_marker = "\\N";
  bool header = false;
  char quote = '"';
};

Result<CopyOptions> ParseOptions(const PgQuery__CopyStmt* c) {
  CopyOptions o;
  bool delim_set = false, null_set = false;
  for (size_t i = 0; i < c->n_options; i++) {
    const auto* d = c->options[i]->def_elem;
    std::string name = d->defname;
    std::string val;
    if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_STRING) val = d->arg->string->sval;
    if (d->arg && d->arg->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        d->arg->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL) {
      val = d->arg->a_const->sval->sval;
    }
    if (name == "format") {
      if (val == "csv") {
        o.csv = true;
      } else if (val != "text") {
        return Status::Sql("0A000", fmt::format("COPY format \"{}\" is not supported", val));
      }
    } else if (name == "delimiter") {
      if (val.size() != 1)
        return Status::Sql("0A000", "COPY delimiter must be a single one-byte character");
      o.delimiter = val[0];
      delim_set = true;
    } else if (name == "null") {
      o.null_marker = val;
      null_set = true;
    } else if (name == "header") {
      o.header = val.empty() || ParseBool(val).value_or(true);
    } else if (name == "freeze") {
      // Accepted: rows are visible to other transactions after commit either way.
    } else if (name == "quote") {
      o.quote = val.empty() ? '"' : val[0];
    } else {
      return Status::Sql("42601", fmt::format("option \"{}\" not recognized", name));
    }
  }
  if (o.csv && !delim_set) o.delimiter = ',';
  if (o.csv && !null_set) o.null_marker = "";
  return o;
}

// Splits one line of text format into fields, undoing backslash escapes.
std::vector<std::optional<std::string>> SplitText(const std::string& line, const CopyOptions& o) {
  std::vector<std::optional<std::string>> out;
  std::string cur;
  std::string raw;  // unescaped-less form, to compare against the NULL marker
  auto finish = [&] {
    if (raw == o.null_marker) {
      out.emplace_back(std::nullopt);
    } else {
      out.emplace_back(cur);
    }
    cur.clear();
    raw.clear();
  };
  for (size_t i = 0; i < line.size(); i++) {
    char ch = line[i];
    if (ch == o.delimiter) {
      finish();
      continue;
    }
    if (ch == '\\' && i + 1 < line.size()) {
      char n = line[++i];
      raw += '\\';
      raw += n;
      switch (n) {
        case 'b':
          cur += '\b';
          break;
        case 'f':
          cur += '\f';
          break;
        case 'n':
          cur += '\n';
          break;
        case 'r':
          cur += '\r';
          break;
        case 't':
          cur += '\t';
          break;
        case 'v':
          cur += '\v';
          break;
        default:
          if (n >= '0' && n <= '7') {
            int v = n - '0';
            for (int k = 0;
                 k < 2 && i + 1 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '7'; k++) {
              v = v * 8 + (line[++i] - '0');
            }
            cur += static_cast<char>(v);
          } else {
            cur += n;
          }
      }
      continue;
    }
    cur += ch;
    raw += ch;
  }
  finish();
  return out;
}

// Splits one CSV record (which may span lines inside quotes; the caller joins them).
std::vector<std::optional<std::string>> SplitCsv(const std::string& line, const CopyOptions& o) {
  std::vector<std::optional<std::string>> out;
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); i++) {
    char ch = line[i];
    if (quoted) {
      if (ch == o.quote) {
        if (i + 1 < line.size() && line[i + 1] == o.quote) {
          cur += o.quote;
          i++;
        } else {
          quoted = false;
        }
      } else {
        cur += ch;
      }
      continue;
    }
    if (ch == o.quote) {
      quoted = was_quoted = true;
    } else if (ch == o.delimiter) {
      out.emplace_back(!was_quoted && cur == o.null_marker ? std::nullopt
                                                           : std::optional<std::string>(cur));
      cur.clear();
      was_quoted = false;
    } else {
      cur += ch;
    }
  }
  out.emplace_back(!was_quoted && cur == o.null_marker ? std::nullopt
                                                       : std::optional<std::string>(cur));
  return out;
}

bool CsvComplete(const std::string& s, char quote) {
  size_t n = 0;
  for (char c : s) n += c == quote;
  return n % 2 == 0;
}

std::string EscapeText(const std::string& v, char delim) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += delim == '\t' ? "\\t" : "\t";
        break;
      default:
        if (c == delim) out += '\\';
        out += c;
    }
  }
  return out;
}

std::string QuoteCsv(const std::string& v, const CopyOptions& o) {
  bool need = v.empty() ||
              v.find_first_of(std::string(1, o.delimiter) + "\r\n" + o.quote) != std::string::npos;
  if (!need) return v;
  std::string out(1, o.quote);
  for (char c : v) {
    if (c == o.quote) out += o.quote;
    out += c;
  }
  return out + o.quote;
}

class TableCopyIn : public CopyIn {
 public:
  TableCopyIn(Executor* ex, TableDef t, std::vector<int> cols, CopyOptions o)
      : ex_(ex), t_(std::move(t)), cols_(std::move(cols)), o_(o) {}
  int columns() const override { return static_cast<int>(cols_.size()); }

  Status Feed(std::string_view data) override {
    buf_.append(data);
    size_t start = 0;
    while (true) {
      size_t nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string line = buf_.substr(start, nl - start);
      if (o_.csv && !CsvComplete(pending_ + line, o_.quote)) {
        pending_ += line + "\n";
        start = nl + 1;
        continue;
      }
      line = pending_ + line;
      pending_.clear();
      start = nl + 1;
      WALREP_RETURN_IF_ERROR(Line(line));
    }
    buf_.erase(0, start);
    return Status::OK();
  }

  Result<uint64_t> Finish() override {
    if (!buf_.empty()) {
      std::string rest = pending_ + buf_;
      buf_.clear();
      pending_.clear();
      WALREP_RETURN_IF_ERROR(Line(rest));
    }
    WALREP_RETURN_IF_ERROR(Flush());
    return rows_;
  }

 private:
  // Rows are stored in batches: the heap fills a page per WAL record (PostgreSQL's COPY
  // buffers rows for heap_multi_insert the same way).
  static constexpr size_t kBatchRows = 1000;
  static constexpr size_t kBatchBytes = 256 * 1024;

  Status Flush() {
    if (batch_.empty()) return Status::OK();
    size_t failed = 0;
    Status st = InsertTableRows(*ex_, t_, batch_, &failed);
    if (!st.ok()) {
      return Status::Sql(st.sqlstate(), st.message())
          .WithDetail(st.detail().empty()
                          ? fmt::format("COPY {}, line {}", t_.name, batch_lines_[failed])
                          : st.detail());
    }
    rows_ += batch_.size();
    batch_.clear();
    batch_lines_.clear();
    batch_bytes_ = 0;
    return Status::OK();
  }

  Status Line(std::string line) {
    line_no_++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (done_) return Status::OK();
    if (line == "\\.") {
      done_ = true;
      return Status::OK();
    }
    if (o_.header && line_no_ == 1) return Status::OK();
    auto fields = o_.csv ? SplitCsv(line, o_) : SplitText(line, o_);
    auto context = [&](Status st) {
      return Status::Sql(st.sqlstate(), st.message())
          .WithDetail(fmt::format("COPY {}, line {}", t_.name, line_no_));
    };
    if (fields.size() != cols_.size()) {
      return context(Status::Sql(
          "22P04", fields.size() < cols_.size()
                       ? "missing data for column \"" +
                             t_.columns[static_cast<size_t>(cols_[fields.size()])].name + "\""
                       : "extra data after last expected column"));
    }
    Row row(t_.columns.size());
    for (size_t c = 0; c < t_.columns.size(); c++) row[c] = Value::Null(t_.columns[c].type_oid);
    FormatOptions fo = ex_->format_options();
    for (size_t i = 0; i < cols_.size(); i++) {
      size_t c = static_cast<size_t>(cols_[i]);
      if (!fields[i]) continue;
      auto v = FromText(t_.columns[c].type_oid, *fields[i], fo);
      if (!v.ok()) return context(v.TakeStatus());
      row[c] = *v;
    }
    for (size_t c = 0; c < t_.columns.size(); c++) {
      auto v = ToColumnValue(t_, c, row[c], fo);
      if (!v.ok()) return context(v.TakeStatus());
      row[c] = *v;
    }
    batch_bytes_ += line.size();
    batch_.push_back(std::move(row));
    batch_lines_.push_back(line_no_);
    if (batch_.size() >= kBatchRows || batch_bytes_ >= kBatchBytes) return Flush();
    return Status::OK();
  }

  Executor* ex_;
  TableDef t_;
  std::vector<int> cols_;
  CopyOptions o_;
  std::string buf_, pending_;
  uint64_t rows_ = 0;
  uint64_t line_no_ = 0;
  bool done_ = false;
  std::vector<Row> batch_;
  std::vector<uint64_t> batch_lines_;
  size_t batch_bytes_ = 0;
};

}  // namespace

Result<std::shared_ptr<Prepared>> PrepareCopy(Executor& ex, std::shared_ptr<Prepared> p,
                                              const PgQuery__CopyStmt* c) {
  if (!c->relation || c->query) return Status::NotSupported("COPY (query) is not supported");
  if (c->filename && *c->filename) {
    return Status::Sql("42501", "COPY to or from a file is not supported; use STDIN or STDOUT")
        .WithHint("Use psql's \\copy, which goes through STDIN and STDOUT.");
  }
  if (c->is_program) return Status::NotSupported("COPY PROGRAM is not supported");
  if (c->where_clause) return Status::NotSupported("COPY ... WHERE is not supported");
  WALREP_ASSIGN_OR_RETURN(CopyOptions o, ParseOptions(c));
  std::string name = c->relation->relname;
  std::vector<std::string> col_names;
  for (size_t i = 0; i < c->n_attlist; i++) col_names.push_back(StringNodeValue(c->attlist[i]));
  bool from = c->is_from;
  p->run = [name, col_names, o, from](Executor& e, EvalState& st) -> Result<ExecResult> {
    WALREP_ASSIGN_OR_RETURN(
        auto t, e.db()->catalog->GetTable(
                    e.txn(), name,
                    from ? access::LockMode::kRowExclusive : access::LockMode::kAccessShare));
    if (!t) return Status::Sql("42P01", fmt::format("relation \"{}\" does not exist", name));
    WALREP_RETURN_IF_ERROR(CheckReadableInRecovery(*st.ctx, *t));
    if (t->kind != 'r') {
      return Status::Sql("42809",
                         fmt::format("cannot copy {} sequence \"{}\"", from ? "to" : "from", name));
    }
    std::vector<int> cols;
    if (col_names.empty()) {
      for (size_t i = 0; i < t->columns.size(); i++) cols.push_back(static_cast<int>(i));
    } else {
      for (const auto& n : col_names) {
        int i = t->column_index(n);
        if (i < 0) {
          return Status::Sql(
              "42703", fmt::format("column \"{}\" of relation \"{}\" does not exist", n, name));
        }
        cols.push_back(i);
      }
    }
    ExecResult r;
    if (from) {
      e.txn().ensure_xid();
      r.copy_in = std::make_shared<TableCopyIn>(&e, *t, cols, o);
      return r;
    }
    r.copy_columns = static_cast<int>(cols.size());
    // Lines are produced as the session sends them: a header, then one per row of the scan.
    std::string header;
    if (o.header) {
      for (size_t i = 0; i < cols.size(); i++) {
        if (i) header += o.delimiter;
        header += o.csv ? QuoteCsv(t->columns[static_cast<size_t>(cols[i])].name, o)
                        : t->columns[static_cast<size_t>(cols[i])].name;
      }
      header += "\n";
      r.copy_header = true;
    }
    auto scan = std::shared_ptr<RowIter>(TableScanIter(st, *t, nullptr));
    auto fmt_opts = st.fmt;
    auto next = [scan, cols, o, header, fmt_opts, row = Row()](Row* out) mutable -> Result<bool> {
      if (!header.empty()) {
        *out = {Value::Text(oid::kText, std::move(header))};
        header.clear();
        return true;
      }
      WALREP_ASSIGN_OR_RETURN(bool more, scan->Next(&row));
      if (!more) return false;
      std::string line;
      for (size_t i = 0; i < cols.size(); i++) {
        if (i) line += o.delimiter;
        const Value& v = row[static_cast<size_t>(cols[i])];
        if (v.is_null()) {
          line += o.null_marker;
        } else {
          std::string text = ToText(v, fmt_opts);
          line += o.csv ? QuoteCsv(text, o) : EscapeText(text, o.delimiter);
        }
      }
      line += "\n";
      *out = {Value::Text(oid::kText, std::move(line))};
      return true;
    };
    r.copy_out = StreamOf(FunctionIter(nullptr, std::move(next)));
    r.tag = "COPY";
    return r;
  };
  return p;
}

}  // namespace walrep::sql
