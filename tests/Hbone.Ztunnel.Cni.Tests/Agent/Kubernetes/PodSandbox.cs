using System.Diagnostics;

namespace Hbone.Ztunnel.Cni.Tests.Agent.Kubernetes;

/// <summary>
/// What a kubelet leaves on a node for one pod, made real: a network namespace with the pod's IP on an interface, and a
/// process inside it (a sleep started by <c>ip netns exec</c>) in a cgroup v2 directory <c>…/pod&lt;uid&gt;/&lt;container&gt;</c>,
/// so the agent's /proc scan finds it as it finds a pod sandbox. Everything is removed on dispose, also after a failure.
/// </summary>
internal sealed class PodSandbox : IDisposable
{
    private const string CgroupRootName = "hbone-test-kubepods";
    private readonly TestNetns _netns;
    private readonly Process? _process;
    private readonly string? _podCgroup;

    public PodSandbox(string ip)
    {
        Uid = Guid.NewGuid().ToString();
        Ip = ip;
        _netns = new TestNetns();
        try
        {
            // The pod's interface, as the CNI plugin leaves it (the peer end stays in the namespace: nothing reaches the root namespace).
            _netns.Exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "veth-peer");
            _netns.Exec("ip", "link", "set", "veth-peer", "up");
            _netns.Exec("ip", "addr", "add", $"{ip}/32", "dev", "eth0");
            _netns.Exec("ip", "link", "set", "eth0", "up");

            var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var part in new[] { "netns", "exec", _netns.Name, "sleep", "600" })
            {
                start.ArgumentList.Add(part);
            }

            // 'ip netns exec' enters the namespace and execs the command in the same process: this pid is the sleep.
            _process = Process.Start(start)!;
            WaitUntil(() => File.ReadAllText($"/proc/{_process.Id}/comm").Trim() == "sleep", "the sleep to start inside the namespace");
            _podCgroup = Path.Combine(CgroupV2Root(), CgroupRootName, $"pod{Uid}");
            var container = Path.Combine(_podCgroup, Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()));
            Directory.CreateDirectory(container);
            File.WriteAllText(Path.Combine(container, "cgroup.procs"), _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Uid { get; }

    public string Ip { get; }

    public TestNetns Netns => _netns;

    /// <summary>The pod's iptables rules as <c>iptables-save</c> prints them inside its namespace.</summary>
    public string IptablesSave() => _netns.Exec("iptables-save");

    public void Dispose()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            _process.WaitForExit(TimeSpan.FromSeconds(10));
            _process.Dispose();
        }

        if (_podCgroup is not null && Directory.Exists(_podCgroup))
        {
            // A cgroup goes only when empty: the container directory first, once the kernel has moved the dead process out.
            WaitUntil(() =>
            {
                foreach (var container in Directory.GetDirectories(_podCgroup))
                {
                    try
                    {
                        Directory.Delete(container);
                    }
                    catch (IOException)
                    {
                        return false;
                    }
                }

                Directory.Delete(_podCgroup);
                return true;
            }, $"removal of {_podCgroup}");

            // The shared parent goes with the last sandbox; another test's sandbox may still be in it.
            try
            {
                Directory.Delete(Path.GetDirectoryName(_podCgroup)!);
            }
            catch (IOException)
            {
            }
        }

        _netns.Dispose();
    }

    /// <summary>Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host); the parent of ours is created.</summary>
    private static string CgroupV2Root()
    {
        foreach (var line in File.ReadAllLines("/proc/self/mounts"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 2 && fields[2] == "cgroup2")
            {
                Directory.CreateDirectory(Path.Combine(fields[1], CgroupRootName));
                return fields[1];
            }
        }

        throw new InvalidOperationException("These tests need a cgroup v2 hierarchy (a cgroup2 mount in /proc/self/mounts) to place a pod's process as a kubelet does.");
    }

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (IOException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not happen within 10 s");
            }

            Thread.Sleep(20);
        }
    }
}
