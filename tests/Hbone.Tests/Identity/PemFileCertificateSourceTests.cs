using System.Diagnostics;
using Hbone.Identity;

namespace Hbone.Tests.Identity;

public sealed class PemFileCertificateSourceTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly TempDirectory _dir = new();
    private readonly DevelopmentCertificateAuthority _ca = new();

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    private (string Cert, string Key, string Bundle) WriteFiles(Svid svid)
    {
        string cert = _dir.File("cert-chain.pem");
        string key = _dir.File("key.pem");
        string bundle = _dir.File("root-cert.pem");
        File.WriteAllText(cert, svid.ExportCertificateChainPem());
        File.WriteAllText(key, svid.ExportPrivateKeyPem());
        File.WriteAllText(bundle, _ca.ExportRootPem());
        return (cert, key, bundle);
    }

    [Fact]
    public void Loads_svid_and_bundle_eagerly_with_the_trust_domain_of_the_svid()
    {
        using Svid svid = _ca.IssueIstio("default", "echo");
        (string cert, string key, string bundle) = WriteFiles(svid);

        using PemFileCertificateSource source = new(cert, key, bundle);

        Assert.Equal(svid.Id, source.GetSvid().Id);
        Assert.Equal("cluster.local", source.GetTrustBundle().TrustDomain);
        Assert.Null(source.LastReloadError);
        Assert.Equal(svid.Id, new SvidValidator(source.GetTrustBundle).Validate(source.GetSvid().Certificate, null, SvidRole.Client));
    }

    [Fact]
    public async Task Rewritten_files_raise_changed_and_serve_the_new_svid()
    {
        using Svid first = _ca.IssueIstio("default", "first");
        (string cert, string key, string bundle) = WriteFiles(first);
        using PemFileCertificateSource source = new(cert, key, bundle);
        TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        source.Changed += (_, _) => changed.TrySetResult();

        using Svid second = _ca.IssueIstio("default", "second");
        WriteFiles(second);

        await changed.Task.WaitAsync(Deadline);
        Assert.Equal(second.Id, source.GetSvid().Id);
        Assert.Equal(second.Certificate.RawData, source.GetSvid().Certificate.RawData);
        Assert.Null(source.LastReloadError);
    }

    [Fact]
    public async Task Malformed_rewrite_keeps_the_last_good_svid_and_reports_the_error()
    {
        using Svid good = _ca.IssueIstio("default", "good");
        (string cert, string key, string bundle) = WriteFiles(good);
        using PemFileCertificateSource source = new(cert, key, bundle);
        TaskCompletionSource<CertificateLoadException> failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        source.ReloadFailed += (_, ex) => failed.TrySetResult(ex);

        File.WriteAllText(cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");

        CertificateLoadException error = await failed.Task.WaitAsync(Deadline);
        Assert.Equal(CertificateLoadError.MalformedPem, error.Error);
        Assert.Equal(cert, error.Path);
        Assert.Same(error, source.LastReloadError);
        Assert.Equal(good.Id, source.GetSvid().Id);
        Assert.Equal(good.Certificate.RawData, source.GetSvid().Certificate.RawData);
    }

    [Fact]
    public void Missing_file_fails_with_file_not_found_naming_the_path()
    {
        using Svid svid = _ca.IssueIstio("default", "echo");
        (string cert, _, string bundle) = WriteFiles(svid);
        string missing = _dir.File("absent-key.pem");

        CertificateLoadException ex = Assert.Throws<CertificateLoadException>(() => new PemFileCertificateSource(cert, missing, bundle));

        AssertOneLineNaming(ex, CertificateLoadError.FileNotFound, missing);
    }

    [Fact]
    public void Malformed_pem_file_fails_with_malformed_pem_naming_the_path()
    {
        using Svid svid = _ca.IssueIstio("default", "echo");
        (string cert, string key, string bundle) = WriteFiles(svid);
        File.WriteAllText(bundle, "garbage\n");

        CertificateLoadException ex = Assert.Throws<CertificateLoadException>(() => new PemFileCertificateSource(cert, key, bundle));

        AssertOneLineNaming(ex, CertificateLoadError.MalformedPem, bundle);
    }

    [Fact]
    public void Key_that_does_not_match_fails_with_key_mismatch_naming_the_key_path()
    {
        using Svid svid = _ca.IssueIstio("default", "echo");
        using Svid other = _ca.IssueIstio("default", "other");
        (string cert, string key, string bundle) = WriteFiles(svid);
        File.WriteAllText(key, other.ExportPrivateKeyPem());

        CertificateLoadException ex = Assert.Throws<CertificateLoadException>(() => new PemFileCertificateSource(cert, key, bundle));

        AssertOneLineNaming(ex, CertificateLoadError.KeyMismatch, key);
    }

    [Fact]
    public void Openssl_made_ca_and_leaf_load_and_validate()
    {
        string caKey = _dir.File("ca.key"), caCert = _dir.File("ca.pem"), leafKey = _dir.File("leaf.key");
        string leafCsr = _dir.File("leaf.csr"), leafCert = _dir.File("leaf.pem"), leafExt = _dir.File("leaf.ext");
        File.WriteAllText(leafExt, string.Join('\n',
            "basicConstraints=critical,CA:FALSE",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth,clientAuth",
            "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/openssl",
            ""));
        Openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", caKey);
        Openssl("req", "-x509", "-new", "-key", caKey, "-sha256", "-days", "30", "-subj", "/O=cluster.local/CN=openssl root",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", caCert);
        Openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", leafKey);
        Openssl("req", "-new", "-key", leafKey, "-subj", "/O=cluster.local", "-out", leafCsr);
        Openssl("x509", "-req", "-in", leafCsr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-days", "1", "-sha256", "-extfile", leafExt, "-out", leafCert);

        using PemFileCertificateSource source = new(leafCert, leafKey, caCert);
        SvidValidator validator = new(source.GetTrustBundle);

        Assert.Equal("spiffe://cluster.local/ns/default/sa/openssl", source.GetSvid().Id.ToString());
        Assert.Equal(source.GetSvid().Id, validator.Validate(source.GetSvid().Certificate, null, SvidRole.Client));
        Assert.Equal(source.GetSvid().Id, validator.Validate(source.GetSvid().Certificate, null, SvidRole.Server));
    }

    private static void AssertOneLineNaming(CertificateLoadException ex, CertificateLoadError expected, string path)
    {
        Assert.Equal(expected, ex.Error);
        Assert.Equal(HboneErrorReason.CertificateLoad, ex.Reason);
        Assert.Equal(path, ex.Path);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    private void Openssl(params string[] arguments)
    {
        ProcessStartInfo start = new("openssl") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = _dir.Path };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(30_000), "openssl did not finish");
        Assert.True(process.ExitCode == 0, $"openssl {arguments[0]} failed: {stderr}");
    }
}
