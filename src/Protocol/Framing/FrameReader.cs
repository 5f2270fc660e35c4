using System.Buffers;
using System.Buffers.Binary;

namespace Kraft.Protocol.Framing;

/// <summary>What <see cref="FrameReader.TryReadFrame"/> found at the front of the buffer.</summary>
public enum FrameStatus
{
    /// <summary>A whole frame was taken from the buffer.</summary>
    Complete,

    /// <summary>The buffer holds only part of a frame; read more and try again.</summary>
    Incomplete,

    /// <summary>The size prefix is negative or above the limit: the connection cannot be resynchronised and should close.</summary>
    Invalid,
}

/// <summary>
/// Cuts length-prefixed frames (a big-endian int32 size, then that many bytes) out of a connection's byte stream.
/// </summary>
/// <remarks>
/// Role: the first step of request handling, before any parsing. Invariant: no frame larger than
/// <see cref="MaxFrameBytes"/> is ever buffered or allocated, so a peer cannot make us reserve memory by
/// announcing a huge size (the check happens on the four size bytes alone). Frames are copied out of the pipe
/// into an array of their own, once: the decoded message (including its record batches, which are slices of
/// this array) must outlive the pipe's buffer, which is recycled as soon as we advance past it.
/// Thread: stateless apart from the limit; safe to share.
/// </remarks>
public sealed class FrameReader
{
    /// <summary>Kafka's default socket.request.max.bytes: 100 MiB.</summary>
    public const int DefaultMaxFrameBytes = 100 * 1024 * 1024;

    public FrameReader(int maxFrameBytes = DefaultMaxFrameBytes)
    {
        if (maxFrameBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxFrameBytes));
        }

        MaxFrameBytes = maxFrameBytes;
    }

    public int MaxFrameBytes { get; }

    /// <summary>
    /// Takes one frame (without its size prefix) from the front of <paramref name="buffer"/> and advances the
    /// buffer past it. On <see cref="FrameStatus.Incomplete"/> the buffer is untouched; on
    /// <see cref="FrameStatus.Invalid"/>, <paramref name="error"/> says why.
    /// </summary>
    public FrameStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlyMemory<byte> frame, out string? error)
    {
        frame = default;
        error = null;
        if (buffer.Length < 4)
        {
            return FrameStatus.Incomplete;
        }

        Span<byte> prefix = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(prefix);
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (size < 0)
        {
            error = $"negative frame size {size}";
            return FrameStatus.Invalid;
        }

        if (size > MaxFrameBytes)
        {
            error = $"frame size {size} exceeds the limit of {MaxFrameBytes} bytes";
            return FrameStatus.Invalid;
        }

        if (buffer.Length - 4 < size)
        {
            return FrameStatus.Incomplete;
        }

        var body = new byte[size];
        buffer.Slice(4, size).CopyTo(body);
        buffer = buffer.Slice(4 + size);
        frame = body;
        return FrameStatus.Complete;
    }
}
