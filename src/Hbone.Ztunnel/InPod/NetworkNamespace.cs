using System.Runtime.InteropServices;

namespace Hbone.Ztunnel.InPod;

/// <summary>
/// Runs code inside another network namespace. <c>setns(2)</c> moves only the calling thread, so the work runs on
/// a dedicated thread that ends afterwards; sockets created there stay in that namespace for good.
/// </summary>
internal static partial class NetworkNamespace
{
    private const int CloneNewNet = 0x40000000;

    public static T Run<T>(string netnsPath, Func<T> action)
    {
        using var handle = File.OpenHandle(netnsPath);
        return Run(handle, action, netnsPath);
    }

    /// <summary>Runs <paramref name="action"/> in the namespace of <paramref name="netns"/> (a handle, as ZDS hands it over).</summary>
    public static T Run<T>(SafeHandle netns, Func<T> action, string? name = null)
    {
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            var added = false;
            try
            {
                netns.DangerousAddRef(ref added);
                if (setns(netns.DangerousGetHandle().ToInt32(), CloneNewNet) != 0)
                {
                    throw new IOException($"setns({name ?? "fd"}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = action();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                if (added)
                {
                    netns.DangerousRelease();
                }
            }
        })
        {
            IsBackground = true,
            Name = "netns",
        };
        thread.Start();
        thread.Join();
        return failure is null ? result! : throw failure;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
