using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.InPod;

/// <summary>Runs code once inside another network namespace (a <see cref="NetnsExecutor"/> for a single call).</summary>
internal static class NetworkNamespace
{
    public static T Run<T>(string netnsPath, Func<T> action)
    {
        using var handle = File.OpenHandle(netnsPath);
        return Run(handle, action, netnsPath);
    }

    /// <summary>Runs <paramref name="action"/> in the namespace of <paramref name="netns"/> (a handle, as ZDS hands it over).</summary>
    public static T Run<T>(SafeHandle netns, Func<T> action, string? name = null)
    {
        var owned = new SafeFileHandle(netns.DangerousGetHandle(), ownsHandle: false);
        using var executor = new NetnsExecutor(owned, name ?? "fd");
        return executor.Invoke(action);
    }
}
