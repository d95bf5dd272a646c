using System.Diagnostics;
using System.Text.Json;
using Hbone.Ztunnel.Cni.Agent;
using Hbone.Ztunnel.Cni.Tests.Rules;

namespace Hbone.Ztunnel.Cni.Tests.Agent;

/// <summary>The built hbone-ztunnel-cni run as a real process: enroll and remove with --pods-dir, and the agent daemon's lifetime.</summary>
public sealed class CniCommandTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("hbone-cni-cli-").FullName;

    private string PodsDirectory => Path.Combine(_directory, "pods");

    [Fact]
    [Trait("case", "CNI-AGENT-07")]
    public async Task CNI_AGENT_07_enroll_with_pods_dir_writes_the_pod_file_and_remove_deletes_it()
    {
        using var netns = new TestNetns();
        const string Uid = "cluster1//v1/Pod/default/client";

        var (code, _, stderr) = await RunAsync("enroll", "--netns", netns.Name, "--pods-dir", PodsDirectory, "--uid", Uid, "--name", "client", "--namespace", "apps", "--service-account", "client-sa");

        Assert.True(code == 0, stderr);
        var file = Path.Combine(PodsDirectory, PodDirectory.FileNameOf(Uid));
        using (var json = JsonDocument.Parse(await File.ReadAllTextAsync(file)))
        {
            var root = json.RootElement;
            Assert.Equal(Uid, root.GetProperty("uid").GetString());
            Assert.Equal("client", root.GetProperty("name").GetString());
            Assert.Equal("apps", root.GetProperty("namespace").GetString());
            Assert.Equal("client-sa", root.GetProperty("serviceAccount").GetString());
            Assert.Equal(netns.Path, root.GetProperty("netns").GetString());
        }

        Assert.Equal([file], Directory.GetFiles(PodsDirectory));
        Assert.Contains("ISTIO_OUTPUT", netns.Exec("iptables-save"), StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync("remove", "--netns", netns.Name, "--pods-dir", PodsDirectory, "--uid", Uid);

        Assert.True(code == 0, stderr);
        Assert.Empty(Directory.GetFiles(PodsDirectory));
        Assert.DoesNotContain("ISTIO", netns.Exec("iptables-save"), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-08")]
    public async Task CNI_AGENT_08_pods_dir_without_uid_is_a_usage_error_and_writes_nothing()
    {
        using var netns = new TestNetns();

        var (code, _, stderr) = await RunAsync("enroll", "--netns", netns.Name, "--pods-dir", PodsDirectory);

        Assert.Equal(1, code);
        Assert.Contains("--uid is required with --pods-dir.", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(PodsDirectory));
        Assert.DoesNotContain("ISTIO", netns.Exec("iptables-save"), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "CNI-AGENT-09")]
    public async Task CNI_AGENT_09_the_agent_logs_its_pods_and_exits_0_on_SIGTERM()
    {
        using var netns = new TestNetns();
        PodDirectory.Write(PodsDirectory, new PodRecord("uid-a", "a", "default", "sa", netns.Path));
        var socket = Path.Combine(_directory, "run", "ztunnel.sock");
        using var process = Start("agent", "--socket", socket, "--pods-dir", PodsDirectory);
        var stdout = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stdout)
                {
                    stdout.Add(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await Zds.RecordingHandler.WaitForAsync(() => { lock (stdout) { return stdout.Any(l => l.StartsWith("agent: add default/a uid=uid-a", StringComparison.Ordinal)); } }, Deadline, "add log line");
            Assert.True(File.Exists(socket));

            Assert.Equal(0, kill(process.Id, 15));
            await process.WaitForExitAsync().WaitAsync(Deadline);

            Assert.Equal(0, process.ExitCode);
            Assert.Equal(string.Empty, await stderr);
            lock (stdout)
            {
                Assert.Equal("agent: stopped", stdout[^1]);
            }

            Assert.False(File.Exists(socket));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    [Trait("case", "CNI-AGENT-16")]
    public async Task CNI_AGENT_16_the_agent_takes_exactly_one_pod_source_and_kubernetes_needs_NODE_NAME()
    {
        var socket = Path.Combine(_directory, "run", "ztunnel.sock");

        var (code, _, stderr) = await RunAsync("agent", "--socket", socket);
        Assert.Equal(1, code);
        Assert.Contains("one of --kubernetes or --pods-dir is required.", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync("agent", "--socket", socket, "--kubernetes", "--pods-dir", PodsDirectory);
        Assert.Equal(1, code);
        Assert.Contains("--kubernetes and --pods-dir cannot be used together.", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync(new Dictionary<string, string?> { ["NODE_NAME"] = null, ["KUBECONFIG"] = null }, "agent", "--socket", socket, "--kubernetes", "--host-proc", "/proc");
        Assert.Equal(1, code);
        Assert.Equal("hbone-ztunnel-cni: error: NODE_NAME is required with --kubernetes (set it from spec.nodeName with the downward API).", stderr.Trim());
        Assert.False(File.Exists(socket));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static Process Start(params string[] args) => Start(null, args);

    private static Process Start(Dictionary<string, string?>? environment, params string[] args)
    {
        // Under 'dotnet test' DOTNET_HOST_PATH is the muxer running the tests.
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? [])
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Hbone.Ztunnel.Cni.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start)!;
    }

    private static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args) => RunAsync(null, args);

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(Dictionary<string, string?>? environment, params string[] args)
    {
        using var process = Start(environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(Deadline);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
