using System.Diagnostics;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Interop;

/// <summary>
/// A temporary folder holding the test PKI as PEM files (the client SVID, its key, the CA) for HTTP/2 stacks we did
/// not write, and a bounded way to run them: every run has a deadline, after which the peer's process tree is killed
/// and the test fails. The folder and everything the test put in it is deleted on dispose.
/// </summary>
internal sealed class ForeignPeer : IDisposable
{
    public ForeignPeer()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("hbone-foreign-peer-").FullName;
        var client = TestPki.Shared.Client;
        File.WriteAllText(ClientCertificate, client.ExportCertificateChainPem());
        File.WriteAllText(ClientKey, client.ExportPrivateKeyPem());
        File.WriteAllText(Ca, TestPki.Shared.Ca.ExportRootPem());
    }

    public string Directory { get; }

    public string ClientCertificate => Path.Combine(Directory, "client.pem");

    public string ClientKey => Path.Combine(Directory, "client-key.pem");

    public string Ca => Path.Combine(Directory, "ca.pem");

    public string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>A script shipped next to the tests (Interop/*.py, *.js are copied to the output).</summary>
    public static string Script(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Interop", name);
        Assert.True(File.Exists(path), $"{path} was not copied to the test output");
        return path;
    }

    /// <summary>Fails the test with an install hint when a peer's executable is missing; peers never skip.</summary>
    public static void Require(string executable, string package) =>
        Assert.True(File.Exists(executable), $"{executable} is missing: run 'apt-get install -y {package}' (scripts/test.sh installs it for CI).");

    public static async Task<PeerResult> RunAsync(string executable, IEnumerable<string> arguments, TimeSpan deadline)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{executable} did not start");
        process.StandardInput.Close();
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        var stderrTask = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(deadline);
            await Task.WhenAll(stdoutTask, stderrTask).WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{Path.GetFileName(executable)} {string.Join(' ', start.ArgumentList)} did not finish within {deadline}; " +
                        $"stderr so far: {(stderrTask.IsCompleted ? stderrTask.Result : "(pending)")}");
        }

        return new PeerResult(process.ExitCode, await stdoutTask, await stderrTask);
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

internal sealed record PeerResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit={ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}
