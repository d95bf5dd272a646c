using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Hbone.Ztunnel.Cni.Rules;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Cni.Netns;

/// <summary>
/// Finds pods' network namespaces without the CNI plugin, as istio-cni's <c>FindNetnsForPods</c>: every process under
/// the host's /proc whose cgroup names a wanted pod uid, not in the host's namespace, whose namespace holds one of the
/// pod's IPs (a foreign process may be visiting another pod's namespace); of several, the oldest process (the sandbox).
/// </summary>
internal sealed partial class PodNetnsFinder(string hostProc)
{
    /// <summary>One scan of /proc for the wanted pods (uid → the pod's IPs).</summary>
    /// <returns>uid → an open handle on the pod's namespace; the caller disposes them. Pods not found are absent.</returns>
    public async Task<Dictionary<string, SafeFileHandle>> FindAsync(IReadOnlyDictionary<string, IReadOnlyList<IPAddress>> wanted, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, Candidate>(StringComparer.Ordinal);
        var ownerOfNamespace = new Dictionary<string, string>(StringComparer.Ordinal);
        var verified = new Dictionary<(string Namespace, string Uid), bool>();

        // The host's namespace is pid 1's (readable with SYS_PTRACE, as istio-cni has); the agent's own is never a pod's either.
        var hostNamespaces = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in (string[])[Path.Combine(hostProc, "1", "ns", "net"), "/proc/self/ns/net"])
        {
            if (NamespaceIdOf(path) is { } id)
            {
                hostNamespaces.Add(id);
            }
        }

        if (hostNamespaces.Count == 0)
        {
            throw new IOException($"cannot read the host's network namespace ({hostProc}/1/ns/net): without it the host's could be taken for a pod's");
        }

        try
        {
            foreach (var directory in Directory.EnumerateDirectories(hostProc))
            {
                if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    continue;
                }

                var candidate = await InspectAsync(directory, hostNamespaces, wanted, found, ownerOfNamespace, verified, cancellationToken).ConfigureAwait(false);
                if (candidate is null)
                {
                    continue;
                }

                if (found.Remove(candidate.Uid, out var previous))
                {
                    previous.Handle.Dispose();
                }

                found[candidate.Uid] = candidate;
                ownerOfNamespace[candidate.NamespaceId] = candidate.Uid;
            }
        }
        catch
        {
            foreach (var candidate in found.Values)
            {
                candidate.Handle.Dispose();
            }

            throw;
        }

        return found.ToDictionary(pair => pair.Key, pair => pair.Value.Handle, StringComparer.Ordinal);
    }

    /// <summary>The process as a better candidate for its pod than any found so far, or null.</summary>
    private static async Task<Candidate?> InspectAsync(
        string process,
        HashSet<string> hostNamespaces,
        IReadOnlyDictionary<string, IReadOnlyList<IPAddress>> wanted,
        Dictionary<string, Candidate> found,
        Dictionary<string, string> ownerOfNamespace,
        Dictionary<(string, string), bool> verified,
        CancellationToken cancellationToken)
    {
        SafeFileHandle? handle = null;
        try
        {
            var netnsPath = Path.Combine(process, "ns", "net");
            var namespaceId = NamespaceIdOf(netnsPath);

            // The host's own namespace is never a pod's (istio#55139): enrolling it would capture the node's traffic.
            if (namespaceId is null || hostNamespaces.Contains(namespaceId))
            {
                return null;
            }

            var uid = CgroupPodUid.Parse(await File.ReadAllTextAsync(Path.Combine(process, "cgroup"), cancellationToken).ConfigureAwait(false));
            if (uid is null || !wanted.TryGetValue(uid, out var ips) || ips.Count == 0)
            {
                return null;
            }

            if (ownerOfNamespace.TryGetValue(namespaceId, out var owner) && owner != uid)
            {
                return null;
            }

            var startTime = StartTimeOf(await File.ReadAllTextAsync(Path.Combine(process, "stat"), cancellationToken).ConfigureAwait(false));
            if (found.TryGetValue(uid, out var best) && best.StartTime <= startTime)
            {
                return null;
            }

            // From here on the handle is the namespace: the pid may exit or be reused, the check and the pin see the same one.
            handle = File.OpenHandle(netnsPath);
            var heldPath = $"/proc/{Environment.ProcessId}/fd/{handle.DangerousGetHandle()}";
            if (NamespaceIdOf(heldPath) != namespaceId)
            {
                return null;
            }

            if (!verified.TryGetValue((namespaceId, uid), out var owned))
            {
                owned = await HoldsAnyAsync(heldPath, ips, cancellationToken).ConfigureAwait(false);
                verified[(namespaceId, uid)] = owned;
            }

            if (!owned)
            {
                return null;
            }

            var candidate = new Candidate(uid, namespaceId, startTime, handle);
            handle = null;
            return candidate;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or InterceptionException)
        {
            // The process exited while it was read, or is not readable: it is not the one.
            return null;
        }
        finally
        {
            handle?.Dispose();
        }
    }

    /// <summary>Whether an interface inside the namespace carries one of the addresses (IPv4-mapped forms compared as IPv4).</summary>
    private static async Task<bool> HoldsAnyAsync(string netnsPath, IReadOnlyList<IPAddress> ips, CancellationToken cancellationToken)
    {
        var output = await NetnsCommand.RunAsync(netnsPath, string.Empty, cancellationToken, "ip", "-o", "addr", "show").ConfigureAwait(false);
        foreach (var address in AddressesOf(output))
        {
            foreach (var ip in ips)
            {
                if (Normalize(ip).Equals(Normalize(address)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>The addresses in <c>ip -o addr show</c> output ("2: eth0    inet 10.244.0.5/24 brd … scope global eth0").</summary>
    internal static IEnumerable<IPAddress> AddressesOf(string ipAddrOutput)
    {
        foreach (var line in ipAddrOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i + 1 < fields.Length; i++)
            {
                if (fields[i] is "inet" or "inet6" && IPAddress.TryParse(fields[i + 1].Split('/')[0], out var address))
                {
                    yield return address;
                }
            }
        }
    }

    /// <summary>The namespace's identity as the kernel names it ("net:[4026532285]"), read from the magic link; null when absent.</summary>
    private static string? NamespaceIdOf(string path)
    {
        // readlink(2) itself: FileInfo.LinkTarget stats the target first, which a "net:[…]" link does not name as a path.
        var buffer = new byte[256];
        var length = readlink(path, buffer, buffer.Length);
        return length <= 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)length);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlink(string path, [Out] byte[] buffer, nint size);

    /// <summary>Field 22 of /proc/PID/stat (start time in ticks since boot), counted after the last ')' as the name may hold spaces.</summary>
    internal static ulong StartTimeOf(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 20 ? ulong.Parse(fields[19], CultureInfo.InvariantCulture) : throw new FormatException("not enough fields in stat");
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private sealed record Candidate(string Uid, string NamespaceId, ulong StartTime, SafeFileHandle Handle);
}
