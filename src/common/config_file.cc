// walrep: postgresql.conf parser (see config_file.h for the grammar).
#include "walrep/common/config_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "walrep/common/strings.h"

namespace walrep {

namespace {

constexpr int kMaxIncludeDepth = 10;

std::string DirOf(const std::string& file) {
  auto p = std::filesystem::path(file).parent_path();
  return p.empty() ? "." : p.string();
}

std::string Resolve(const std::string& including_file, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return DirOf(including_file) + "/" + path;
}

Status SyntaxError(const std::string& file, int line, std::string_view near) {
  if (near.empty()) {
    return Status::Sql(
        "42601", fmt::format("syntax error in file \"{}\" line {}, near end of line", file, line));
  }
  return Status::Sql("42601", fmt::format("syntax error in file \"{}\" line {}, near token \"{}\"",
                                          file, line, near));
}

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Reads a quoted string starting at s[i] == '\''; returns the unescaped value.
bool ReadQuoted(std::string_view s, size_t& i, std::string* out) {
  i++;  // opening quote
  while (i < s.size()) {
    char c = s[i];
    if (c == '\'') {
      if (i + 1 < s.size() && s[i + 1] == '\'') {
        out->push_back('\'');
        i += 2;
        continue;
      }
      i++;
      return true;
    }
    if (c == '\\' && i + 1 < s.size()) {
      char n = s[i + 1];
      i += 2;
      switch (n) {
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        default:
          if (n >= '0' && n <= '7') {
            int v = n - '0';
            for (int k = 0; k < 2 && i < s.size() && s[i] >= '0' && s[i] <= '7'; k++, i++) {
              v = v * 8 + (s[i] - '0');
            }
            out->push_back(static_cast<char>(v));
          } else {
            out->push_back(n);
          }
      }
      continue;
    }
    out->push_back(c);
    i++;
  }
  return false;
}

Result<std::vector<GucAssignment>> IncludeDir(const std::string& dir, int depth) {
  std::vector<GucAssignment> out;
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (name.size() < 5 || name.substr(name.size() - 5) != ".conf") continue;
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  if (ec) {
    return Status::IOError(
        fmt::format("could not open configuration directory \"{}\": {}", dir, ec.message()));
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    WALREP_ASSIGN_OR_RETURN(auto items, ParseConfigFile(f, false, depth + 1));
    out.insert(out.end(), items.begin(), items.end());
  }
  return out;
}

}  // namespace

Result<std::vector<GucAssignment>> ParseConfigText(std::string_view text, const std::string& file,
                                                   int depth) {
  std::vector<GucAssignment> out;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    line_no++;
    size_t i = 0;
    auto skip_ws = [&] {
      while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) i++;
    };
    skip_ws();
    if (i >= line.size() || line[i] == '#') continue;
    size_t name_start = i;
    while (i < line.size() && IsIdentChar(line[i])) i++;
    std::string name(line.substr(name_start, i - name_start));
    if (name.empty()) return SyntaxError(file, line_no, line.substr(name_start, 1));
    skip_ws();
    if (i < line.size() && line[i] == '=') {
      i++;
      skip_ws();
    }
    std::string value;
    if (i < line.size() && line[i] == '\'') {
      size_t quote_start = i;
      if (!ReadQuoted(line, i, &value)) {
        return SyntaxError(file, line_no, line.substr(quote_start));
      }
    } else {
      size_t vs = i;
      while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i])) &&
             line[i] != '#') {
        i++;
      }
      value = std::string(line.substr(vs, i - vs));
      if (value.empty()) return SyntaxError(file, line_no, "");
    }
    skip_ws();
    if (i < line.size() && line[i] != '#') return SyntaxError(file, line_no, line.substr(i));

    std::string lname = ToLower(name);
    if (lname == "include" || lname == "include_if_exists" || lname == "include_dir") {
      if (depth >= kMaxIncludeDepth) {
        return Status::Sql("54000", fmt::format("could not open configuration file \"{}\": "
                                                "maximum nesting depth exceeded",
                                                value));
      }
      std::string target = Resolve(file, value);
      Result<std::vector<GucAssignment>> items =
          lname == "include_dir" ? IncludeDir(target, depth)
                                 : ParseConfigFile(target, lname == "include_if_exists", depth + 1);
      if (!items.ok()) return items.TakeStatus();
      out.insert(out.end(), items->begin(), items->end());
      continue;
    }
    out.push_back(GucAssignment{name, value, file, line_no});
  }
  return out;
}

Result<std::vector<GucAssignment>> ParseConfigFile(const std::string& path, bool missing_ok,
                                                   int depth) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // include_if_exists skips only a file that is not there (not, say, a name too long).
    int err = errno;
    if (missing_ok && err == ENOENT) return std::vector<GucAssignment>{};
    errno = err;
    return Status::IOError(
        fmt::format("could not open configuration file \"{}\": {}", path, std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfigText(ss.str(), path, depth);
}

std::string RenderAutoConf(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "# Written by ALTER SYSTEM; edits by hand are lost at the next ALTER SYSTEM.\n";
  for (const auto& [k, v] : items) {
    std::string q;
    for (char c : v) {
      if (c == '\\' || c == '\'') q += c;  // both are doubled so the parser reads them back
      q += c;
    }
    out += k + " = '" + q + "'\n";
  }
  return out;
}

}  // namespace walrep
