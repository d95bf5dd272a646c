using Microsoft.Diagnostics.Runtime;

namespace Hbone.MemoryProbe;

/// <summary>Heap bytes by type of another .NET process, largest first.</summary>
internal static class HeapTypes
{
    public static void Print(int pid, int top)
    {
        using var target = DataTarget.AttachToProcess(pid, suspend: true);
        using var runtime = target.ClrVersions[0].CreateRuntime();
        var byType = new Dictionary<string, (long Count, long Bytes)>();
        foreach (var obj in runtime.Heap.EnumerateObjects())
        {
            if (!obj.IsValid || obj.Type?.Name is not { } name || name == "Free")
            {
                continue;
            }

            byType.TryGetValue(name, out var total);
            byType[name] = (total.Count + 1, total.Bytes + (long)obj.Size);
        }

        Console.WriteLine($"{"bytes",12} {"objects",8}  type");
        foreach (var (name, total) in byType.OrderByDescending(kv => kv.Value.Bytes).Take(top))
        {
            Console.WriteLine($"{total.Bytes,12} {total.Count,8}  {name}");
        }
    }
}
