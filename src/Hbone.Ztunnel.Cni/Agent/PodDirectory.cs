using System.Text;
using System.Text.Json;

namespace Hbone.Ztunnel.Cni.Agent;

/// <summary>
/// The directory of enrolled pods, one <c>&lt;file-safe uid&gt;.json</c> per pod: written by <c>enroll</c>,
/// deleted by <c>remove</c>, read by the agent.
/// </summary>
internal static class PodDirectory
{
    public const string Extension = ".json";

    /// <summary>The pod's file name: <see cref="SafeNameOf"/> plus <see cref="Extension"/>.</summary>
    public static string FileNameOf(string uid) => SafeNameOf(uid) + Extension;

    /// <summary>The uid as a file name: letters, digits, '-' and '.' kept, every other byte as <c>_XX</c> (so distinct uids never share a file).</summary>
    public static string SafeNameOf(string uid)
    {
        ArgumentException.ThrowIfNullOrEmpty(uid);
        var name = new StringBuilder(uid.Length + Extension.Length);
        foreach (var b in Encoding.UTF8.GetBytes(uid))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' || (b is (byte)'.' && name.Length > 0))
            {
                name.Append((char)b);
            }
            else
            {
                name.Append('_').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return name.ToString();
    }

    /// <summary>Writes the pod's file atomically: a hidden temp file in the same directory, then a rename over the target.</summary>
    public static string Write(string directory, PodRecord pod)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileNameOf(pod.Uid));
        var temp = Path.Combine(directory, $".{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                JsonSerializer.Serialize(stream, pod, PodRecordJsonContext.Default.PodRecord);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
            return path;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Deletes the pod's file; true when there was one.</summary>
    public static bool Delete(string directory, string uid)
    {
        var path = Path.Combine(directory, FileNameOf(uid));
        var existed = File.Exists(path);
        File.Delete(path);
        return existed;
    }

    /// <summary>The pod files now in the directory (temp files excluded).</summary>
    public static string[] List(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory, "*" + Extension) : [];

    /// <summary>Reads and checks one pod file.</summary>
    /// <exception cref="PodFileException">The file cannot be read, is not a pod record, or names a namespace that does not exist.</exception>
    public static PodRecord Read(string path)
    {
        PodRecord? pod;
        try
        {
            using var stream = File.OpenRead(path);
            pod = JsonSerializer.Deserialize(stream, PodRecordJsonContext.Default.PodRecord);
        }
        catch (JsonException ex)
        {
            throw new PodFileException($"{path}: not a pod record: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PodFileException($"{path}: cannot read: {ex.Message}", ex);
        }

        if (pod is null)
        {
            throw new PodFileException($"{path}: not a pod record: null");
        }

        Require(path, "uid", pod.Uid);
        Require(path, "name", pod.Name);
        Require(path, "namespace", pod.Namespace);
        Require(path, "serviceAccount", pod.ServiceAccount);
        Require(path, "netns", pod.Netns);
        if (!Path.IsPathFullyQualified(pod.Netns))
        {
            throw new PodFileException($"{path}: netns '{pod.Netns}' is not an absolute path");
        }

        if (!File.Exists(pod.Netns))
        {
            throw new PodFileException($"{path}: network namespace {pod.Netns} does not exist");
        }

        return pod;
    }

    private static void Require(string path, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new PodFileException($"{path}: field '{field}' is missing or empty");
        }
    }
}
