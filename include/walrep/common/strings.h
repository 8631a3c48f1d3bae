// walrep: small string helpers shared by every layer.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace walrep {

std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);
// Splits on `sep`, trimming each piece; empty input gives no pieces.
std::vector<std::string> SplitTrim(std::string_view s, char sep);
// Quotes an SQL literal: a'b -> 'a''b'.
std::string QuoteLiteral(std::string_view s);
std::string HexEncode(std::string_view bytes);

}  // namespace walrep
