// walrep: password verifiers and the server side of md5 and SCRAM-SHA-256 authentication.
//
// Stored secrets follow PostgreSQL: "md5" + hex(md5(password || user)), or
// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64 fields). Clear text is
// never stored. ScramExchange runs RFC 5802/7677 as PostgreSQL does (no channel binding offered);
// for a role without a SCRAM secret it runs a mock exchange that fails only at the end, so a
// client cannot tell whether the role exists.
// Counterpart: auth-scram.c and crypt.c in PostgreSQL.
// Thread safety: free functions are thread-safe; a ScramExchange belongs to one session.
#pragma once

#include <string>
#include <string_view>

#include "walrep/common/status.h"

namespace walrep::protocol {

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);
std::string RandomBytes(size_t n);

std::string Md5Verifier(std::string_view password, std::string_view user);
std::string ScramVerifier(std::string_view password, std::string_view salt, int iterations);
// A new SCRAM secret with a random 16-byte salt and 4096 iterations.
std::string NewScramVerifier(std::string_view password);
bool IsMd5Verifier(std::string_view v);
bool IsScramVerifier(std::string_view v);

// Checks a clear-text password (auth method "password") against a stored secret.
bool CheckPassword(std::string_view user, std::string_view password, std::string_view verifier);
// Checks the answer to an MD5Password challenge. The stored secret must be an md5 one.
bool CheckMd5Response(std::string_view verifier, std::string_view salt, std::string_view response);
// What a client sends for an md5 challenge (used by tests and walrepctl).
std::string Md5Response(std::string_view password, std::string_view user, std::string_view salt);

class ScramExchange {
 public:
  // `verifier` may be empty or not a SCRAM secret: the exchange then always fails.
  // `mock_seed` makes the fake salt stable per user, as PostgreSQL's mock nonce does.
  ScramExchange(std::string verifier, std::string_view mock_seed);

  // client-first-message -> server-first-message; 08P01 on malformed input.
  Result<std::string> ClientFirst(std::string_view msg);
  // client-final-message -> server-final-message ("v=..."); 28P01 (message set by the caller)
  // when the proof is wrong.
  Result<std::string> ClientFinal(std::string_view msg);
  bool authenticated() const { return authenticated_; }

 private:
  bool mock_ = false;
  int iterations_ = 4096;
  std::string salt_, stored_key_, server_key_;
  std::string gs2_header_, client_first_bare_, server_first_, nonce_;
  bool authenticated_ = false;
};

}  // namespace walrep::protocol
