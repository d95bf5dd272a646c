using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;

namespace Hbone.Istio.Ca;

/// <summary>Turns the CA's <c>cert_chain</c> (leaf first, root bundle last) into an <see cref="IssuedCertificate"/>, checking identity and chain.</summary>
internal static class CertificateResponseReader
{
    /// <exception cref="IstioException">InvalidCertificateResponse, IdentityMismatch or UntrustedCertificateChain.</exception>
    public static IssuedCertificate Read(IReadOnlyList<string> certChain, ECDsa key, SpiffeId identity, DateTimeOffset now)
    {
        if (certChain.Count < 2)
        {
            throw Invalid(identity, certChain.Count == 0 ? "the response holds no certificate" : "the response holds no root certificate after the leaf");
        }

        X509Certificate2Collection leafAndIntermediates = Parse(certChain, 0, certChain.Count - 1, identity, "certificate chain");
        X509Certificate2Collection roots = Parse(certChain, certChain.Count - 1, certChain.Count, identity, "root bundle");
        X509Certificate2 leaf = leafAndIntermediates[0];
        X509Certificate2Collection intermediates = [];
        for (int i = 1; i < leafAndIntermediates.Count; i++)
        {
            intermediates.Add(leafAndIntermediates[i]);
        }

        X509Certificate2 withKey;
        try
        {
            withKey = leaf.CopyWithPrivateKey(key);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw Invalid(identity, $"the leaf (serial {leaf.SerialNumber}) does not hold the key of the signing request: {ex.Message}", ex);
        }
        finally
        {
            leaf.Dispose();
        }

        Svid svid;
        try
        {
            svid = new Svid(withKey, intermediates);
        }
        catch (SvidValidationException ex)
        {
            withKey.Dispose();
            throw new IstioException(IstioErrorReason.IdentityMismatch, $"the certificate issued for {identity} carries no valid SPIFFE ID: {ex.Message}", ex);
        }

        if (svid.Id != identity)
        {
            string serial = svid.Certificate.SerialNumber;
            svid.Dispose();
            throw new IstioException(IstioErrorReason.IdentityMismatch, $"the certificate issued for {identity} (serial {serial}) carries {svid.Id} instead");
        }

        VerifyChain(svid, roots, identity, now);
        return new IssuedCertificate(svid, new TrustBundle(identity.TrustDomain, roots));
    }

    private static X509Certificate2Collection Parse(IReadOnlyList<string> certChain, int start, int end, SpiffeId identity, string what)
    {
        X509Certificate2Collection certificates = [];
        for (int i = start; i < end; i++)
        {
            try
            {
                certificates.ImportFromPem(certChain[i] ?? "");
            }
            catch (CryptographicException ex)
            {
                throw Invalid(identity, $"element {i} of the {what} is not valid PEM: {ex.Message}", ex);
            }
        }

        return certificates.Count > 0 ? certificates : throw Invalid(identity, $"the {what} holds no PEM certificate");
    }

    // Custom root trust against the returned roots only: no system store, no revocation, no downloads.
    private static void VerifyChain(Svid svid, X509Certificate2Collection roots, SpiffeId identity, DateTimeOffset now)
    {
        using X509Chain chain = new();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(svid.Intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        if (!chain.Build(svid.Certificate))
        {
            string status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct());
            string serial = svid.Certificate.SerialNumber;
            svid.Dispose();
            throw new IstioException(IstioErrorReason.UntrustedCertificateChain, $"the certificate issued for {identity} (serial {serial}) does not chain to the returned root: {status}");
        }
    }

    private static IstioException Invalid(SpiffeId identity, string detail, Exception? inner = null) =>
        new(IstioErrorReason.InvalidCertificateResponse, $"invalid CA response for {identity}: {detail}", inner);
}
