// walrep: md5 and SCRAM-SHA-256 against the vectors captured from PostgreSQL 15
// (shared/reference/frontend-protocol.md section 2).
#include "walrep/protocol/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace walrep::protocol {
namespace {

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}
std::string Sha(const std::string& d) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(d.data()), d.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

// A SCRAM client, written independently of the server code, for the exchange tests.
std::string ClientFinal(const std::string& password, const std::string& client_first_bare,
                        const std::string& server_first, const std::string& gs2 = "n,,") {
  std::string salt_b64, nonce;
  int iters = 0;
  size_t r = server_first.find("r="), s = server_first.find(",s="), i = server_first.find(",i=");
  nonce = server_first.substr(r + 2, s - r - 2);
  salt_b64 = server_first.substr(s + 3, i - s - 3);
  iters = std::stoi(server_first.substr(i + 3));
  std::string salt = *Base64Decode(salt_b64);
  unsigned char sp[32];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iters, EVP_sha256(), 32, sp);
  std::string salted(reinterpret_cast<char*>(sp), 32);
  std::string client_key = Hmac(salted, "Client Key");
  std::string without_proof = "c=" + Base64Encode(gs2) + ",r=" + nonce;
  std::string auth = client_first_bare + "," + server_first + "," + without_proof;
  std::string sig = Hmac(Sha(client_key), auth);
  std::string proof(32, '\0');
  for (int k = 0; k < 32; k++) proof[k] = static_cast<char>(client_key[k] ^ sig[k]);
  return without_proof + ",p=" + Base64Encode(proof);
}

TEST(AuthTest, Md5MatchesCapturedVector) {
  EXPECT_EQ(Md5Verifier("md5pass", "md5user"), "md57541d4e65fae11bd07f18dc6fe2b02bc");
  std::string salt("\x84\x63\x4a\xd5", 4);
  EXPECT_EQ(Md5Response("md5pass", "md5user", salt), "md5445c5532dcb8c677f2d00416eb11eda8");
  EXPECT_TRUE(CheckMd5Response("md57541d4e65fae11bd07f18dc6fe2b02bc", salt,
                               "md5445c5532dcb8c677f2d00416eb11eda8"));
  EXPECT_FALSE(CheckMd5Response("md57541d4e65fae11bd07f18dc6fe2b02bc", salt,
                                "md5445c5532dcb8c677f2d00416eb11eda9"));
}

TEST(AuthTest, ScramVerifierMatchesCapturedVector) {
  std::string salt = *Base64Decode("93tsFNoosNY7/R3dNdpFew==");
  EXPECT_EQ(ScramVerifier("scrampass", salt, 4096),
            "SCRAM-SHA-256$4096:93tsFNoosNY7/R3dNdpFew==$"
            "T1twXpIMtE39kh+QG9y4wUweN9Edi4sNs08U77q53z4=:"
            "SpPoGINz9swSxf+7QLswNTt+uOLN4P+CJ/A9u9tWuhQ=");
  std::string v = NewScramVerifier("pw");
  EXPECT_TRUE(IsScramVerifier(v));
  EXPECT_TRUE(CheckPassword("u", "pw", v));
  EXPECT_FALSE(CheckPassword("u", "px", v));
  EXPECT_TRUE(CheckPassword("u", "pw", Md5Verifier("pw", "u")));
}

TEST(AuthTest, ScramExchangeAcceptsTheRightPasswordOnly) {
  std::string verifier = NewScramVerifier("secret");
  for (const char* gs2 : {"n,,", "y,,"}) {
    ScramExchange ok(verifier, "seed");
    std::string bare = "n=,r=clientnonce123456789012";
    auto first = ok.ClientFirst(std::string(gs2) + bare);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    auto fin = ok.ClientFinal(ClientFinal("secret", bare, *first, gs2));
    ASSERT_TRUE(fin.ok()) << fin.status().ToString();
    EXPECT_EQ(fin->substr(0, 2), "v=");
    EXPECT_TRUE(ok.authenticated());
  }
  ScramExchange bad(verifier, "seed");
  std::string bare = "n=,r=abc";
  auto first = bad.ClientFirst("n,," + bare);
  ASSERT_TRUE(first.ok());
  auto fin = bad.ClientFinal(ClientFinal("wrong", bare, *first));
  ASSERT_FALSE(fin.ok());
  EXPECT_EQ(fin.status().sqlstate(), "28P01");
}

TEST(AuthTest, MockExchangeFailsOnlyAtTheEnd) {
  ScramExchange mock("", "someuser-seed");
  std::string bare = "n=,r=abc";
  auto first = mock.ClientFirst("n,," + bare);
  ASSERT_TRUE(first.ok());
  ScramExchange mock2("", "someuser-seed");
  auto first2 = mock2.ClientFirst("n,," + bare);
  // The fake salt is stable per user, so probing cannot tell the role is missing.
  EXPECT_EQ(first->substr(first->find(",s=")), first2->substr(first2->find(",s=")));
  auto fin = mock.ClientFinal(ClientFinal("anything", bare, *first));
  EXPECT_FALSE(fin.ok());
}

TEST(AuthTest, MalformedScramMessagesAreProtocolErrors) {
  ScramExchange ex(NewScramVerifier("x"), "s");
  EXPECT_EQ(ex.ClientFirst("garbage").status().sqlstate(), "08P01");
  ScramExchange ex2(NewScramVerifier("x"), "s");
  ASSERT_TRUE(ex2.ClientFirst("n,,n=,r=abc").ok());
  EXPECT_EQ(ex2.ClientFinal("c=biws,r=wrongnonce,p=AAAA").status().sqlstate(), "08P01");
  EXPECT_EQ(ex2.ClientFinal("no proof here").status().sqlstate(), "08P01");
}

TEST(AuthTest, Base64RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(*Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_FALSE(Base64Decode("abc").ok());
}

}  // namespace
}  // namespace walrep::protocol
