using System.Diagnostics;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>A CA and two SVIDs made with the <c>openssl</c> command, independent of our own certificate code.</summary>
internal static class OpenSslPki
{
    private const string Config = """
        [req]
        distinguished_name = dn
        prompt = no
        [dn]
        O = cluster.local
        [ca]
        basicConstraints = critical,CA:TRUE
        keyUsage = critical,keyCertSign,cRLSign
        subjectKeyIdentifier = hash
        """;

    /// <summary>Writes ca.pem/ca.key, server.pem/server.key (PKCS#8) and client.pem/client.key (SEC1) into <paramref name="directory"/>.</summary>
    public static async Task CreateAsync(string directory)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, "openssl.cnf"), Config);
        await OpenSslAsync(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key");
        await OpenSslAsync(directory, "req", "-x509", "-new", "-key", "ca.key", "-config", "openssl.cnf", "-extensions", "ca", "-days", "1", "-out", "ca.pem");
        await IssueAsync(directory, "server", "spiffe://cluster.local/ns/default/sa/server", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "server.key"]);
        await IssueAsync(directory, "client", "spiffe://cluster.local/ns/default/sa/client", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "client.key"]);
    }

    private static async Task IssueAsync(string directory, string name, string spiffeId, string[] keyCommand)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, name + ".ext"), $"""
            subjectAltName = URI:{spiffeId}
            keyUsage = critical,digitalSignature
            extendedKeyUsage = serverAuth,clientAuth
            basicConstraints = CA:FALSE
            """);
        await OpenSslAsync(directory, keyCommand);
        await OpenSslAsync(directory, "req", "-new", "-key", name + ".key", "-config", "openssl.cnf", "-out", name + ".csr");
        await OpenSslAsync(directory, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", name + ".ext", "-out", name + ".pem");
    }

    private static async Task OpenSslAsync(string directory, params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = directory, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("openssl did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"openssl {string.Join(' ', args)} did not finish in 30 s");
        }

        _ = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        }
    }
}
