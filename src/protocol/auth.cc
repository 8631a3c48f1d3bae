// walrep: md5 and SCRAM-SHA-256 (see auth.h).
#include "walrep/protocol/auth.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

#include "walrep/common/strings.h"

namespace walrep::protocol {

namespace {

std::string Sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string SaltedPassword(std::string_view password, std::string_view salt, int iterations) {
  unsigned char out[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(), sizeof(out), out);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

std::string Md5Hex(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<char*>(out), len));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

struct ParsedScram {
  int iterations;
  std::string salt, stored_key, server_key;
};

bool ParseScram(std::string_view v, ParsedScram* out) {
  // SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>
  constexpr std::string_view kPrefix = "SCRAM-SHA-256$";
  if (v.substr(0, kPrefix.size()) != kPrefix) return false;
  v.remove_prefix(kPrefix.size());
  size_t colon = v.find(':'), dollar = v.find('$');
  if (colon == v.npos || dollar == v.npos || colon > dollar) return false;
  size_t colon2 = v.find(':', dollar);
  if (colon2 == v.npos) return false;
  out->iterations = std::atoi(std::string(v.substr(0, colon)).c_str());
  auto salt = Base64Decode(v.substr(colon + 1, dollar - colon - 1));
  auto sk = Base64Decode(v.substr(dollar + 1, colon2 - dollar - 1));
  auto vk = Base64Decode(v.substr(colon2 + 1));
  if (!salt.ok() || !sk.ok() || !vk.ok() || out->iterations <= 0) return false;
  out->salt = *salt;
  out->stored_key = *sk;
  out->server_key = *vk;
  return out->stored_key.size() == 32 && out->server_key.size() == 32;
}

// Splits "a=x,b=y" attributes; returns false on a malformed list.
bool Attr(std::string_view part, char name, std::string* value) {
  if (part.size() < 2 || part[0] != name || part[1] != '=') return false;
  *value = std::string(part.substr(2));
  return true;
}

Status Malformed(std::string_view what) {
  return Status::ProtocolViolation("malformed SCRAM message").WithDetail(std::string(what));
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("invalid base64");
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("invalid base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes.
  if (!text.empty() && text.back() == '=') len--;
  if (text.size() >= 2 && text[text.size() - 2] == '=') len--;
  out.resize(len);
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

std::string Md5Verifier(std::string_view password, std::string_view user) {
  return "md5" + Md5Hex(std::string(password) + std::string(user));
}

std::string ScramVerifier(std::string_view password, std::string_view salt, int iterations) {
  std::string salted = SaltedPassword(password, salt, iterations);
  std::string stored = Sha256(Hmac(salted, "Client Key"));
  std::string server = Hmac(salted, "Server Key");
  return fmt::format("SCRAM-SHA-256${}:{}${}:{}", iterations, Base64Encode(salt),
                     Base64Encode(stored), Base64Encode(server));
}

std::string NewScramVerifier(std::string_view password) {
  return ScramVerifier(password, RandomBytes(16), 4096);
}

bool IsMd5Verifier(std::string_view v) { return v.size() == 35 && v.substr(0, 3) == "md5"; }
bool IsScramVerifier(std::string_view v) {
  ParsedScram p;
  return ParseScram(v, &p);
}

bool CheckPassword(std::string_view user, std::string_view password, std::string_view verifier) {
  if (IsMd5Verifier(verifier)) return ConstantTimeEquals(Md5Verifier(password, user), verifier);
  ParsedScram p;
  if (!ParseScram(verifier, &p)) return false;
  std::string salted = SaltedPassword(password, p.salt, p.iterations);
  return ConstantTimeEquals(Sha256(Hmac(salted, "Client Key")), p.stored_key);
}

bool CheckMd5Response(std::string_view verifier, std::string_view salt, std::string_view response) {
  if (!IsMd5Verifier(verifier)) return false;
  std::string expect = "md5" + Md5Hex(std::string(verifier.substr(3)) + std::string(salt));
  return ConstantTimeEquals(expect, response);
}

std::string Md5Response(std::string_view password, std::string_view user, std::string_view salt) {
  std::string inner = Md5Verifier(password, user).substr(3);
  return "md5" + Md5Hex(inner + std::string(salt));
}

ScramExchange::ScramExchange(std::string verifier, std::string_view mock_seed) {
  ParsedScram p;
  if (ParseScram(verifier, &p)) {
    iterations_ = p.iterations;
    salt_ = p.salt;
    stored_key_ = p.stored_key;
    server_key_ = p.server_key;
  } else {
    mock_ = true;
    salt_ = Sha256(mock_seed).substr(0, 16);
    stored_key_ = server_key_ = std::string(32, '\0');
  }
}

Result<std::string> ScramExchange::ClientFirst(std::string_view msg) {
  // gs2-header: ("n" | "y" | "p=...") "," [authzid] ","
  size_t c1 = msg.find(',');
  if (c1 == msg.npos) return Malformed("Comma expected, but end of string found.");
  size_t c2 = msg.find(',', c1 + 1);
  if (c2 == msg.npos) return Malformed("Comma expected, but end of string found.");
  std::string_view cb = msg.substr(0, c1);
  if (cb != "n" && cb != "y") {
    if (cb.substr(0, 2) == "p=") {
      return Status::ProtocolViolation("channel binding is not supported by this server")
          .WithDetail("The server does not offer SCRAM-SHA-256-PLUS.");
    }
    return Malformed("Unexpected channel-binding flag.");
  }
  gs2_header_ = std::string(msg.substr(0, c2 + 1));
  client_first_bare_ = std::string(msg.substr(c2 + 1));
  // client-first-bare: n=<user>,r=<nonce>[,extensions]
  auto parts = SplitTrim(client_first_bare_, ',');
  std::string user, cnonce;
  if (parts.size() < 2 || !Attr(parts[0], 'n', &user) || !Attr(parts[1], 'r', &cnonce) ||
      cnonce.empty()) {
    return Malformed("Could not parse client-first-message.");
  }
  nonce_ = cnonce + Base64Encode(RandomBytes(18));
  server_first_ = fmt::format("r={},s={},i={}", nonce_, Base64Encode(salt_), iterations_);
  return server_first_;
}

Result<std::string> ScramExchange::ClientFinal(std::string_view msg) {
  size_t pproof = msg.rfind(",p=");
  if (pproof == msg.npos) return Malformed("Could not parse client-final-message.");
  std::string without_proof(msg.substr(0, pproof));
  auto parts = SplitTrim(without_proof, ',');
  std::string cbind, nonce;
  if (parts.size() < 2 || !Attr(parts[0], 'c', &cbind) || !Attr(parts[1], 'r', &nonce)) {
    return Malformed("Could not parse client-final-message.");
  }
  if (cbind != Base64Encode(gs2_header_)) {
    return Status::ProtocolViolation("SCRAM channel binding check failed");
  }
  if (nonce != nonce_) return Malformed("Nonce does not match.");
  auto proof = Base64Decode(msg.substr(pproof + 3));
  if (!proof.ok() || proof->size() != 32)
    return Malformed("Malformed proof in client-final-message.");
  std::string auth_message = client_first_bare_ + "," + server_first_ + "," + without_proof;
  std::string client_sig = Hmac(stored_key_, auth_message);
  std::string client_key(32, '\0');
  for (size_t i = 0; i < 32; i++) client_key[i] = static_cast<char>((*proof)[i] ^ client_sig[i]);
  if (mock_ || !ConstantTimeEquals(Sha256(client_key), stored_key_)) {
    return Status::Sql("28P01", "password authentication failed");
  }
  authenticated_ = true;
  return "v=" + Base64Encode(Hmac(server_key_, auth_message));
}

}  // namespace walrep::protocol
