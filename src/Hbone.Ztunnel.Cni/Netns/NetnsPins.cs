using System.Runtime.InteropServices;
using Hbone.Ztunnel.Cni.Agent;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Cni.Netns;

/// <summary>
/// Keeps each enrolled pod's network namespace reachable by a path of its own: a bind mount of the namespace onto
/// <c>DIR/&lt;uid&gt;</c>, as <c>ip netns add</c> makes. A <c>/proc/PID/ns/net</c> path lives only as long as that pid, and a
/// <c>/proc/self/fd/N</c> path of a held fd would name another file once the fd is closed and its number reused while a
/// queued ZDS add still refers to it; an unmounted and deleted pin is simply missing (the ZDS server skips it).
/// </summary>
internal sealed partial class NetnsPins(string directory)
{
    private const nuint MsBind = 0x1000;
    private const int MntDetach = 2;
    private const int EINVAL = 22;
    private const int ENOENT = 2;

    /// <summary>Bind-mounts the namespace <paramref name="netns"/> refers to; returns the pin's path.</summary>
    /// <exception cref="IOException">The mount failed (the agent needs CAP_SYS_ADMIN).</exception>
    public string Pin(string uid, SafeFileHandle netns)
    {
        Directory.CreateDirectory(directory);
        var path = PathOf(uid);
        Unpin(uid);
        using (File.Create(path))
        {
        }

        // The fd, not /proc/PID/ns/net: the namespace verified through this handle is the one pinned, even if the pid is gone.
        if (mount($"/proc/self/fd/{netns.DangerousGetHandle()}", path, null, MsBind, 0) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            File.Delete(path);
            throw new IOException($"cannot bind-mount the network namespace of pod {uid} on {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        return path;
    }

    /// <summary>Unmounts and deletes the pod's pin; nothing when there is none.</summary>
    public void Unpin(string uid)
    {
        var path = PathOf(uid);
        if (umount2(path, MntDetach) != 0 && Marshal.GetLastPInvokeError() is not (EINVAL or ENOENT))
        {
            throw new IOException($"cannot unmount {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        File.Delete(path);
    }

    public string PathOf(string uid) => Path.Combine(directory, PodDirectory.SafeNameOf(uid));

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string? fileSystemType, nuint flags, nint data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);
}
