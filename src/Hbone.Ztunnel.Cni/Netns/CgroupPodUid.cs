using System.Text.RegularExpressions;

namespace Hbone.Ztunnel.Cni.Netns;

/// <summary>
/// The pod uid in a process's <c>/proc/PID/cgroup</c>, as istio-cni (after SPIRE) reads it: a path segment
/// <c>pod&lt;uid&gt;</c> followed by the container id, in the cgroupfs form
/// (<c>/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/9bca8d63…</c>) or the systemd form
/// (<c>…/kubepods-burstable-pod2c48913c_b29f_11e7_9350_020968147796.slice/cri-containerd-9bca8d63….scope</c>).
/// </summary>
internal static partial class CgroupPodUid
{
    // Go's [[:punct:]] (ASCII punctuation) and its complement; [[:xdigit:]].
    private const string Punct = @"[!-/:-@\[-`{-~]";
    private const string NotPunct = @"[^!-/:-@\[-`{-~]";
    private const string Hex = "[0-9a-fA-F]";

    /// <summary>The pod uid of the process, or null: not a pod's container, or lines that disagree (then the process is not trusted).</summary>
    public static string? Parse(string cgroupFile)
    {
        string? podUid = null;
        string? containerId = null;
        foreach (var raw in cgroupFile.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "hierarchy-id:controllers:path"; the path may itself contain ':' (the systemd form under cri-containerd).
            var parts = raw.TrimEnd('\r').Split(':', 3);
            if (parts.Length < 3)
            {
                return null;
            }

            if (ParsePath(parts[2]) is not { } found)
            {
                continue;
            }

            var (uid, container) = found;

            if (containerId is null)
            {
                (podUid, containerId) = (uid, container);
            }
            else if (containerId != container || podUid != uid)
            {
                return null;
            }
        }

        return podUid;
    }

    /// <summary>The pod uid (canonical: punctuation turned into '-') and container id of one cgroup path, or null.</summary>
    public static (string PodUid, string ContainerId)? ParsePath(string path)
    {
        var match = PodPath().Match(path.EndsWith(".scope", StringComparison.Ordinal) ? path[..^".scope".Length] : path);
        if (!match.Success)
        {
            return null;
        }

        var uid = PunctChar().Replace(match.Groups["poduid"].Value, "-");
        return (uid, match.Groups["containerid"].Value);
    }

    [GeneratedRegex(Punct + "pod(?<poduid>" + Hex + "{8}" + Punct + "?" + Hex + "{4}" + Punct + "?" + Hex + "{4}" + Punct + "?" + Hex + "{4}" + Punct + "?" + Hex + "{12})" + Punct
        + "(?:" + NotPunct + "+" + Punct + ")*(?<containerid>" + NotPunct + "+)$", RegexOptions.CultureInvariant)]
    private static partial Regex PodPath();

    [GeneratedRegex(Punct, RegexOptions.CultureInvariant)]
    private static partial Regex PunctChar();
}
