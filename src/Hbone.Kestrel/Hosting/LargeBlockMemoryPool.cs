using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Hbone.Kestrel.Hosting;

/// <summary>
/// Kestrel's transport memory, in 32 KiB blocks instead of Kestrel's 4 KiB ones: the socket transport receives
/// into one block per system call and the TLS layer writes one block per record batch, so a 4 KiB block means a
/// receive per 4 KiB and a TLS write per 4 KiB of tunnel data. One pool is shared by every listener of the host.
/// </summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    private readonly LargeBlockMemoryPool _pool = new();

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => _pool;
}

/// <summary>Pinned 32 KiB blocks; at most <see cref="MaxRetained"/> free blocks are kept, the rest go to the GC.</summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 32 * 1024;

    // 2 MiB: what a busy node proxy has in flight at once; an idle one holds no blocks at all (Kestrel
    // waits for data before it takes a block), so this only bounds what stays after a burst.
    public const int MaxRetained = 64;

    private readonly ConcurrentQueue<Block> _free = new();

    public override int MaxBufferSize => BlockSize;

    internal int RetainedCount => _free.Count;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        return _free.TryDequeue(out var block) ? block : new Block(this);
    }

    // Shared by every transport of the host: a transport disposing "its" pool must not empty it for the others.
    protected override void Dispose(bool disposing)
    {
    }

    private void Return(Block block)
    {
        if (_free.Count < MaxRetained)
        {
            _free.Enqueue(block);
        }
    }

    private sealed class Block(LargeBlockMemoryPool pool) : IMemoryOwner<byte>
    {
        // Pinned once at allocation: sockets and TLS pin what they read into, and a pinned-heap array costs nothing to pin.
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public Memory<byte> Memory => _array;

        public void Dispose() => pool.Return(this);
    }
}
