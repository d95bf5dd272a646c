using System.Diagnostics;

namespace Hbone.Ztunnel.Testing;

/// <summary>dnsmasq (a resolver we did not write) answering fixed names on one address:53 inside a network namespace.</summary>
public sealed class Dnsmasq : IAsyncDisposable
{
    private readonly Process _process;

    private Dnsmasq(Process process) => _process = process;

    /// <summary>Starts dnsmasq in <paramref name="netns"/> on <paramref name="address"/>:53, answering <paramref name="records"/> (name to IPv4) and refusing the rest.</summary>
    public static async Task<Dnsmasq> StartAsync(string netns, string address, IReadOnlyDictionary<string, string> records, TimeSpan deadline)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["netns", "exec", netns, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--user=root",
            "--pid-file=", "--bind-interfaces", $"--listen-address={address}", "--port=53", "--log-facility=-"])
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in records)
        {
            start.ArgumentList.Add($"--address=/{name}/{value}");
        }

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start };
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            // dnsmasq logs this once its sockets are bound.
            if (e.Data?.Contains("started, version", StringComparison.Ordinal) == true)
            {
                started.TrySetResult();
            }
        }

        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var dnsmasq = new Dnsmasq(process);
        try
        {
            await started.Task.WaitAsync(deadline);
        }
        catch
        {
            await dnsmasq.DisposeAsync();
            throw;
        }

        return dnsmasq;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }

        _process.Dispose();
    }
}
