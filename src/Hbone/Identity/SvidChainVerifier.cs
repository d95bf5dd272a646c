using System.Security.Cryptography.X509Certificates;

namespace Hbone.Identity;

/// <summary>Builds the chain to the bundle's roots only, offline, and maps the chain status to one <see cref="SvidValidationError"/>.</summary>
internal static class SvidChainVerifier
{
    private const X509ChainStatusFlags TimeFlags = X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested;

    internal static SvidValidationError Verify(X509Certificate2 leaf, X509Certificate2Collection? intermediates, X509Certificate2[] roots, DateTimeOffset now, out string? detail)
    {
        detail = null;
        using X509Chain chain = new() { ChainPolicy = CreatePolicy(intermediates, roots, now) };
        bool built = chain.Build(leaf);
        X509ChainElementCollection elements = chain.ChainElements;
        try
        {
            X509ChainStatusFlags other = X509ChainStatusFlags.NoError;
            string? expiredIntermediate = null;
            bool leafTime = false;
            for (int i = 0; i < elements.Count; i++)
            {
                X509ChainElement element = elements[i];
                foreach (X509ChainStatus status in element.ChainElementStatus)
                {
                    if ((status.Status & X509ChainStatusFlags.NotTimeValid) != 0)
                    {
                        if (i == 0)
                        {
                            leafTime = true;
                        }
                        else
                        {
                            expiredIntermediate ??= element.Certificate.Subject;
                        }
                    }

                    other |= status.Status & ~TimeFlags;
                }
            }

            foreach (X509ChainStatus status in chain.ChainStatus)
            {
                other |= status.Status & ~TimeFlags;
            }

            if (other != X509ChainStatusFlags.NoError)
            {
                detail = other.ToString();
                return SvidValidationError.UntrustedChain;
            }

            if (leafTime)
            {
                bool expired = now.UtcDateTime > leaf.NotAfter.ToUniversalTime();
                detail = "leaf outside its validity period";
                return expired ? SvidValidationError.Expired : SvidValidationError.NotYetValid;
            }

            if (expiredIntermediate is not null)
            {
                detail = $"intermediate '{expiredIntermediate}' is outside its validity period";
                return SvidValidationError.Expired;
            }

            if (!built)
            {
                detail = "chain did not build";
                return SvidValidationError.UntrustedChain;
            }

            return SvidValidationError.None;
        }
        finally
        {
            // Chain elements hold their own certificate copies; release them now rather than at finalization.
            for (int i = 0; i < elements.Count; i++)
            {
                X509Certificate2 certificate = elements[i].Certificate;
                if (!ReferenceEquals(certificate, leaf) && !IsCallerOwned(certificate, intermediates, roots))
                {
                    certificate.Dispose();
                }
            }
        }
    }

    /// <summary>The offline policy: bundle roots only, no downloads, no revocation fetches, the caller's clock.</summary>
    internal static X509ChainPolicy CreatePolicy(X509Certificate2Collection? intermediates, X509Certificate2[] roots, DateTimeOffset now)
    {
        X509ChainPolicy policy = new()
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,

            // SVIDs are short-lived and bundles are pushed: never fetch AIA/CRL from the network during a handshake.
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
            VerificationTime = now.UtcDateTime,
            VerificationTimeIgnored = false,
        };
        policy.CustomTrustStore.AddRange(roots);
        if (intermediates is not null)
        {
            policy.ExtraStore.AddRange(intermediates);
        }

        return policy;
    }

    private static bool IsCallerOwned(X509Certificate2 certificate, X509Certificate2Collection? intermediates, X509Certificate2[] roots)
    {
        foreach (X509Certificate2 root in roots)
        {
            if (ReferenceEquals(root, certificate))
            {
                return true;
            }
        }

        if (intermediates is not null)
        {
            for (int i = 0; i < intermediates.Count; i++)
            {
                if (ReferenceEquals(intermediates[i], certificate))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
