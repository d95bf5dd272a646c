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
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(netnsPath);
                if (setns(handle.DangerousGetHandle().ToInt32(), CloneNewNet) != 0)
                {
                    throw new IOException($"setns({netnsPath}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = action();
            }
            catch (Exception ex)
            {
                failure = ex;
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
