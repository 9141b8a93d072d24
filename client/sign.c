/*-------------------------------------------------------------------------
 *
 * sign.c
 *	  Signed digests: "digest --out FILE --sign-key KEY.pem" writes FILE.sig,
 *	  an Ed25519 signature (RFC 8032, through OpenSSL's EVP_DigestSign)
 *	  over the exact bytes of FILE, as one line of base64; "--public-key
 *	  PUB.pem" checks it before a digest file is trusted.  The key never
 *	  enters the database: whoever can change the ledger cannot sign a
 *	  digest of a rewritten one.
 *
 * Keys are PEM files as "openssl genpkey -algorithm ed25519" and "openssl
 * pkey -pubout" write them; a key with a passphrase is refused (nothing
 * prompts for it).
 *
 * client/sign.c
 *
 *-------------------------------------------------------------------------
 */
#include "pg_steward.h"

#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/base64.h"

#define ED25519_SIG_LEN 64

/* no passphrase: a key that needs one cannot be read */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* OpenSSL's reason for the last failure, or "" */
static const char *
openssl_reason(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/*
 * An Ed25519 key from a PEM file: the private one (KEY.pem) when private,
 * else the public one.  NULL, with a message on stderr, when the file
 * cannot be read or holds no such key.
 */
static EVP_PKEY *
load_key(const char *path, bool private)
{
	BIO		   *bio = BIO_new_file(path, "r");
	EVP_PKEY   *key;

	if (bio == NULL)
	{
		fprintf(stderr, "%s: could not open the %s key \"%s\": %s\n", progname,
				private ? "signing" : "public", path, strerror(errno));
		ERR_clear_error();
		return NULL;
	}
	key = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
		: PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (key == NULL)
	{
		const char *reason = openssl_reason();

		fprintf(stderr, "%s: \"%s\" is not %s%s%s\n", progname, path,
				private ? "a private key in PEM without a passphrase" : "a public key in PEM",
				*reason ? ": " : "", reason);
		return NULL;
	}
	if (EVP_PKEY_id(key) != EVP_PKEY_ED25519)
	{
		fprintf(stderr, "%s: \"%s\" is not an Ed25519 key (openssl genpkey -algorithm ed25519)\n",
				progname, path);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

/* the signing key of path, checked; NULL (with a message) when unusable */
void *
sign_key_load(const char *path)
{
	return load_key(path, true);
}

/*
 * Sign len bytes of data with key (sign_key_load) and write the signature
 * to sigpath, base64 on one line (through a temporary file).
 */
bool
sign_write(void *key, const char *data, size_t len, const char *sigpath)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[ED25519_SIG_LEN];
	size_t		siglen = sizeof(sig);
	char		b64[128];
	int			n;
	bool		ok;

	ok = ctx != NULL &&
		EVP_DigestSignInit(ctx, NULL, NULL, NULL, (EVP_PKEY *) key) == 1 &&
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) data, len) == 1 &&
		siglen == ED25519_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
	{
		fprintf(stderr, "%s: could not sign the digest: %s\n", progname, openssl_reason());
		return false;
	}
	n = pg_b64_encode((const char *) sig, ED25519_SIG_LEN, b64, sizeof(b64) - 1);
	if (n < 0)
		return false;
	b64[n] = '\0';
	return file_write_atomic(sigpath, b64);
}

/*
 * Check path.sig against the bytes of path (data, len) and the public key
 * of pubpath.  EXIT_OK when it is valid; EXIT_FINDINGS, with a line on
 * stdout that says why the digest is not trusted, when the signature is
 * missing or does not match; EXIT_SERVER when the public key is unusable.
 */
int
sign_check(const char *path, const char *data, size_t len, const char *pubpath)
{
	EVP_PKEY   *key = load_key(pubpath, false);
	PQExpBufferData sigpath;
	char	   *text;
	size_t		textlen;
	char		sig[ED25519_SIG_LEN + 3];
	int			n = -1;
	EVP_MD_CTX *ctx;
	bool		ok;

	if (key == NULL)
		return EXIT_SERVER;
	initPQExpBuffer(&sigpath);
	appendPQExpBuffer(&sigpath, "%s.sig", path);
	if (access(sigpath.data, F_OK) != 0)
	{
		printf("the digest %s is NOT trusted: it has no signature (%s)\n", path, sigpath.data);
		EVP_PKEY_free(key);
		return EXIT_FINDINGS;
	}
	text = file_read_bytes(sigpath.data, 1024, &textlen);
	if (text == NULL)
	{
		EVP_PKEY_free(key);
		return EXIT_SERVER;
	}
	while (textlen > 0 && isspace((unsigned char) text[textlen - 1]))
		text[--textlen] = '\0';
	if (textlen == pg_b64_enc_len(ED25519_SIG_LEN) && strlen(text) == textlen)
		n = pg_b64_decode(text, textlen, sig, sizeof(sig));
	if (n != ED25519_SIG_LEN)
	{
		printf("the digest %s is NOT trusted: %s is not an Ed25519 signature (64 bytes in base64)\n",
			   path, sigpath.data);
		EVP_PKEY_free(key);
		return EXIT_FINDINGS;
	}
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
		EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
		EVP_DigestVerify(ctx, (const unsigned char *) sig, ED25519_SIG_LEN,
						 (const unsigned char *) data, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (!ok)
	{
		printf("the digest %s is NOT trusted: its signature %s does not match it and the public key %s\n",
			   path, sigpath.data, pubpath);
		return EXIT_FINDINGS;
	}
	return EXIT_OK;
}
