using System.Buffers;
using Csshim.TarLayer.Posix;
using Mono.Unix.Native;

namespace Csshim.TarLayer;

/// <summary>How a byte range goes from one file to another, best first.</summary>
internal enum CopyMethod { CopyFileRange, Sendfile, ReadWrite }

/// <summary>
/// Moves byte ranges between regular files without bringing the data into the process. copy_file_range first (one
/// copy inside the page cache, a reflink where the filesystem can); the kernel refuses it across filesystems (EXDEV:
/// since 5.19 only between files of one filesystem type that implements it), e.g. from an archive on ext4 into a
/// tmpfs upper or through an overlay. Then sendfile, which splices inside the kernel between any two files. Then
/// read/write through a buffer. A method the kernel refuses for these files (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS, EPERM
/// from a seccomp filter) is dropped for the rest of this copier's life (one restore or one snapshot: one archive and
/// one destination); any other error is the caller's to report. A hole in the source reads as zeros, so the bytes
/// that arrive are always the source's bytes.
/// </summary>
internal sealed unsafe class FileRangeCopier : IDisposable
{
    const long MaxStep = 1L << 30;
    const int BufferSize = 1 << 20;

    /// <summary>Test seam: the first method a new copier tries (later ones stay available as fallbacks).</summary>
    internal static CopyMethod FirstMethod { get; set; } = CopyMethod.CopyFileRange;
    /// <summary>Bytes moved by each method since start-up, for tests and measurements.</summary>
    internal static readonly long[] Moved = new long[3];

    CopyMethod _method = FirstMethod;
    byte[]? _buffer;

    public CopyMethod Method => _method;

    /// <summary>
    /// Copy length bytes from inFd at inOffset to outFd at outOffset, or at outFd's own offset (advanced) when outOffset
    /// is -1. Returns 0 or an errno; moved below length with 0 means the input ended first.
    /// </summary>
    public int Copy(int inFd, long inOffset, int outFd, long outOffset, long length, out long moved)
    {
        moved = 0;
        while (moved < length)
        {
            long n = Step(inFd, inOffset + moved, outFd, outOffset < 0 ? -1 : outOffset + moved, Math.Min(length - moved, MaxStep), out int err);
            if (n > 0)
            {
                moved += n;
                Interlocked.Add(ref Moved[(int)_method], n);
                continue;
            }
            if (n == 0) return 0;
            if (err == Fs.EINTR) continue;
            if (_method != CopyMethod.ReadWrite && err is Fs.EXDEV or Fs.EINVAL or Fs.EOPNOTSUPP or Fs.ENOSYS or Fs.EPERM)
            {
                _method++;
                continue;
            }
            return err;
        }
        return 0;
    }

    long Step(int inFd, long inOffset, int outFd, long outOffset, long count, out int err)
    {
        long n;
        switch (_method)
        {
            case CopyMethod.CopyFileRange:
                n = Linux.copy_file_range(inFd, &inOffset, outFd, outOffset < 0 ? null : &outOffset, (nuint)count, 0);
                break;
            case CopyMethod.Sendfile:
                // sendfile writes at the output's own offset.
                if (outOffset >= 0 && Syscall.lseek(outFd, outOffset, SeekFlags.SEEK_SET) < 0) { err = Fs.Errno; return -1; }
                n = Syscall.sendfile(outFd, inFd, ref inOffset, (ulong)count);
                break;
            default:
                return ReadWrite(inFd, inOffset, outFd, outOffset, count, out err);
        }
        err = n < 0 ? Fs.Errno : 0;
        return n;
    }

    long ReadWrite(int inFd, long inOffset, int outFd, long outOffset, long count, out int err)
    {
        _buffer ??= ArrayPool<byte>.Shared.Rent(BufferSize);
        fixed (byte* b = _buffer)
        {
            long n = Syscall.pread(inFd, b, (ulong)Math.Min(count, _buffer.Length), inOffset);
            if (n <= 0) { err = n < 0 ? Fs.Errno : 0; return n; }
            err = Fs.WriteAll(outFd, new ReadOnlySpan<byte>(b, (int)n), outOffset);
            return err == 0 ? n : -1;
        }
    }

    public void Dispose()
    {
        if (_buffer != null) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }
}
