using System.Formats.Tar;
using TarEntryType = Csshim.TarLayer.TarEntryType;
using PaxTarEntry = System.Formats.Tar.PaxTarEntry;
using System.Text;
using Csshim.TarLayer;
using NUnit.Framework;
using BclTarWriter = System.Formats.Tar.TarWriter;
using BclTarReader = System.Formats.Tar.TarReader;

namespace Csshim.Tests;

/// <summary>Archives made by other writers (BCL TarWriter, hand-built PAX) following FORMAT.md rule by rule.</summary>
[TestFixture]
public class FixtureTests : TmpfsFixture
{
    static readonly DateTimeOffset T1 = new(2020, 5, 6, 7, 8, 9, TimeSpan.Zero);
    // A raw ACL: version 2, USER_OBJ rwx, USER 1000 r-x, GROUP_OBJ r--, MASK r-x, OTHER ---.
    static readonly byte[] RawAcl = Convert.FromHexString(
        "02000000" + "01000700FFFFFFFF" + "02000500E8030000" + "04000400FFFFFFFF" + "10000500FFFFFFFF" + "20000000FFFFFFFF");

    static PaxTarEntry Pax(TarEntryType type, string name, int mode = 0x1ED, Dictionary<string, string>? ext = null)
    {
        var e = ext == null ? new PaxTarEntry(ToBcl(type), name) : new PaxTarEntry(ToBcl(type), name, ext);
        e.Mode = (UnixFileMode)mode;
        e.ModificationTime = T1;
        return e;
    }

    static System.Formats.Tar.TarEntryType ToBcl(TarEntryType t) => t switch
    {
        TarEntryType.Directory => System.Formats.Tar.TarEntryType.Directory,
        TarEntryType.File => System.Formats.Tar.TarEntryType.RegularFile,
        TarEntryType.Symlink => System.Formats.Tar.TarEntryType.SymbolicLink,
        TarEntryType.HardLink => System.Formats.Tar.TarEntryType.HardLink,
        TarEntryType.CharDevice => System.Formats.Tar.TarEntryType.CharacterDevice,
        TarEntryType.Fifo => System.Formats.Tar.TarEntryType.Fifo,
        _ => throw new ArgumentException(t.ToString()),
    };

    static MemoryStream Bcl(params PaxTarEntry[] entries)
    {
        var ms = new MemoryStream();
        using (var w = new BclTarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var e in entries) w.WriteEntry(e);
        ms.Position = 0;
        return ms;
    }

    [Test]
    public void ChildrenBeforeParents_AndReadOnlyDirsGetModeLast()
    {
        var file = Pax(TarEntryType.File, "./a/b/c", 0x1A4);
        file.DataStream = new MemoryStream("data"u8.ToArray());
        var b = Pax(TarEntryType.Directory, "./a/b/", 0x16D); // 0555
        var a = Pax(TarEntryType.Directory, "./a/", 0x1C0);   // 0700
        var root = Pax(TarEntryType.Directory, "./", 0x1E9);  // 0751
        var dest = NewDir("dst");
        UpperArchive.Extract(Bcl(file, b, a, root), dest, new ExtractOptions());
        var t = Tree.Describe(dest);
        Assert.That(t["a/b/c"], Does.Contain("mode=644").And.Contain("size=4"));
        Assert.That(t["a/b"], Does.Contain("mode=555").And.Contain($"mtime={T1.ToUnixTimeSeconds()}.000000000"));
        Assert.That(t["a"], Does.Contain("mode=700").And.Contain($"mtime={T1.ToUnixTimeSeconds()}."));
        Assert.That(t["."], Does.Contain("mode=751"));
    }

    [Test]
    public void OpaqueDir_Base64Acl_Whiteout_AsRunscWritesThem()
    {
        var b64 = Convert.ToBase64String(RawAcl).TrimEnd('=');
        var dir = Pax(TarEntryType.Directory, "./opaque/", 0x1ED, new()
        {
            ["SCHILY.xattr.trusted.overlay.opaque"] = "y",
            ["SCHILY.xattr.system.posix_acl_default"] = b64,
        });
        var f = Pax(TarEntryType.File, "./f", 0x1A4, new() { ["SCHILY.xattr.system.posix_acl_access"] = b64 });
        var wh = Pax(TarEntryType.CharDevice, "./gone", 0);
        var dest = NewDir("dst");
        UpperArchive.Extract(Bcl(dir, f, wh), dest, new ExtractOptions());
        Assert.That(Xattr.Get(dest + "/opaque", "trusted.overlay.opaque"), Is.EqualTo("y"u8.ToArray()));
        Assert.That(Xattr.Get(dest + "/opaque", Acl.Default), Is.EqualTo(RawAcl));
        Assert.That(Xattr.Get(dest + "/f", Acl.Access), Is.EqualTo(RawAcl));
        Assert.That(Sh.Run($"getfacl -cpn {Sh.Q(dest)}/f"), Does.Contain("user:1000:r-x"));
        Assert.That(Tree.Describe(dest)["gone"], Does.StartWith("type=2 mode=0 ").And.Contain("rdev=0:0"));
    }

    [Test]
    public void RawAclFromGnuTar_AndBinaryXattr_HandBuiltPax_AreExact()
    {
        var cap = Convert.FromHexString("0100000200040000000000000000000000000000");
        var bin = new byte[] { 0, 0xff, 0xfe, 0x80, (byte)'\n', (byte)'=' };
        var pax = Hand.PaxData(("SCHILY.xattr.security.capability", cap), ("SCHILY.xattr.user.bin", bin),
            ("SCHILY.xattr.system.posix_acl_access", RawAcl), ("mtime", "1234567890.000000123"u8.ToArray()));
        var tar = Hand.Concat(Hand.Header("./PaxHeaders/f", 'x', pax.Length), Hand.Pad(pax),
            Hand.Header("./f", '0', 3), Hand.Pad("abc"u8.ToArray()), new byte[1024]);
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(tar), dest, new ExtractOptions());
        Assert.That(Xattr.Get(dest + "/f", "security.capability"), Is.EqualTo(cap));
        Assert.That(Xattr.Get(dest + "/f", "user.bin"), Is.EqualTo(bin));
        Assert.That(Xattr.Get(dest + "/f", Acl.Access), Is.EqualTo(RawAcl));
        Assert.That(Tree.Describe(dest)["f"], Does.Contain("mtime=1234567890.000000123"));
    }

    [Test]
    public void LongNames_BigIds_FromBcl()
    {
        var d1 = "./" + new string('a', 150) + "/";
        var d2 = d1 + new string('b', 200) + "/";
        var f = Pax(TarEntryType.File, d2 + new string('c', 120), 0x1A4);
        f.Uid = 3_000_000; f.Gid = 16_777_216; // beyond 7 octal digits (2^21)
        f.DataStream = new MemoryStream("x"u8.ToArray());
        var link = Pax(TarEntryType.Symlink, "./l");
        link.LinkName = "/" + new string('t', 300);
        var hard = Pax(TarEntryType.HardLink, "./" + new string('h', 110));
        hard.LinkName = f.Name;
        var dest = NewDir("dst");
        UpperArchive.Extract(Bcl(Pax(TarEntryType.Directory, d1), Pax(TarEntryType.Directory, d2), f, link, hard), dest, new ExtractOptions());
        var t = Tree.Describe(dest);
        var rel = f.Name[2..];
        Assert.That(t[rel], Does.Contain("uid=3000000 gid=16777216"));
        Assert.That(t["l"], Does.Contain("target=/" + new string('t', 300)));
        Assert.That(t[new string('h', 110)], Does.Contain("hardlink-of=" + rel));
        Assert.That(rel.Length, Is.GreaterThan(255));

        // Our writer must produce the same through PAX, and BCL must read ours back.
        var ms = new MemoryStream();
        UpperArchive.Write(dest, ms);
        ms.Position = 0;
        var names = new List<string>();
        using var r = new BclTarReader(ms);
        while (r.GetNextEntry() is { } e)
        {
            names.Add(e.Name);
            if (e.Name == f.Name) Assert.That((e.Uid, e.Gid), Is.EqualTo((3_000_000, 16_777_216)));
        }
        Assert.That(names, Does.Contain(f.Name).And.Contain(d2).And.Contain("./l"));
    }

    [Test]
    public void SizeBeyond8GiB_UsesPaxSize_BothWays()
    {
        const long size = 9L << 30;
        var ms = new MemoryStream();
        using (var w = new PaxTarWriter(ms))
        {
            w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = "./huge", Mode = 0x1A4, Size = size });
            w.WriteData("only the first bytes"u8);
            w.Finish();
        }
        var bytes = ms.ToArray();
        Assert.That(Encoding.ASCII.GetString(bytes, 512, 512), Does.Contain($"size={size}\n"));
        using (var r = new PaxTarReader(new MemoryStream(bytes), long.MaxValue))
            Assert.That(r.Next()!.Size, Is.EqualTo(size));
        using (var bcl = new BclTarReader(new NonSeekable(bytes)))
            Assert.That(bcl.GetNextEntry(copyData: false)!.Length, Is.EqualTo(size));

        // A restore refuses it up front against the byte budget instead of writing 9 GiB.
        var dest = NewDir("dst");
        var ex = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(new MemoryStream(bytes), dest, new ExtractOptions { MaxBytes = 1 << 30 }));
        Assert.That(ex!.Message, Does.Contain("'./huge'").And.Contain("byte budget"));
        Assert.That(Directory.EnumerateFileSystemEntries(dest), Is.Empty);
    }

    [Test]
    public void GnuBase256Numbers_AreRead()
    {
        var h = Hand.Header("./f", '0', 0);
        h[108] = 0x80; Array.Clear(h, 109, 7); h[114] = 0x01; h[115] = 0x00; // uid 256 in base-256
        Hand.FixChecksum(h);
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(Hand.Concat(h, new byte[1024])), dest, new ExtractOptions());
        Assert.That(Tree.Describe(dest)["f"], Does.Contain("uid=256"));
    }

    [Test]
    public void Devices_OnlyWhenAllowed()
    {
        var dev = Pax(TarEntryType.CharDevice, "./null", 0x1B6);
        dev.DeviceMajor = 1; dev.DeviceMinor = 3;
        var dest = NewDir("dst");
        UpperArchive.Extract(Bcl(dev), dest, new ExtractOptions { AllowDevices = true });
        Assert.That(Tree.Describe(dest)["null"], Does.Contain("rdev=1:3").And.Contain("mode=666"));
        var dest2 = NewDir("dst");
        var ex = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(Bcl(dev), dest2, new ExtractOptions()));
        Assert.That(ex!.Message, Is.EqualTo("entry './null': device nodes are not allowed (char 1/3)"));
    }

    [TestCase(4, false)]
    [TestCase(5, true)]
    public void EntryBudget_CountsTheParentDirectoriesARestoreCreates(long budget, bool fits)
    {
        var f = Pax(TarEntryType.File, "./a/b/c/d/file", 0x1A4);
        f.DataStream = new MemoryStream("x"u8.ToArray());
        var options = new ExtractOptions { MaxEntries = budget };
        var dest = NewDir("dst");
        if (fits)
        {
            Assert.That(UpperArchive.Extract(Bcl(f), dest, options), Is.EqualTo(new ExtractResult(5, 1, HasRoot: false)));
            Assert.That(Tree.Describe(dest)["a/b/c/d"], Does.StartWith("type=4 mode=755 uid=0 gid=0"));
            return;
        }
        var ex = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(Bcl(f), dest, options));
        Assert.That(ex!.Message, Is.EqualTo("entry './a/b/c/d/file': archive exceeds the entry budget of 4 entries (counting the 4 parent directories it creates)"));
        Assert.That(Directory.EnumerateFileSystemEntries(dest), Is.Empty);
    }

    [Test]
    public void DuplicateFileEntry_LaterWins()
    {
        var a = Pax(TarEntryType.File, "./f", 0x1A4); a.DataStream = new MemoryStream("one"u8.ToArray());
        var b = Pax(TarEntryType.File, "./f", 0x180); b.DataStream = new MemoryStream("second"u8.ToArray());
        var dest = NewDir("dst");
        UpperArchive.Extract(Bcl(a, b), dest, new ExtractOptions());
        Assert.That(File.ReadAllText(dest + "/f"), Is.EqualTo("second"));
    }

    [Test]
    public void DestinationMustBeEmpty()
    {
        var dest = NewDir("dst");
        File.WriteAllText(dest + "/keep", "mine");
        Assert.Throws<ArgumentException>(() => UpperArchive.Extract(Bcl(Pax(TarEntryType.File, "./x")), dest, new ExtractOptions()));
        Assert.That(File.ReadAllText(dest + "/keep"), Is.EqualTo("mine"));
    }

    [Test]
    public void LayerFull_IsReported_AndCleanedUp()
    {
        var small = NewDir("small");
        Sh.Run($"mount -t tmpfs -o size=1m small {Sh.Q(small)}");
        try
        {
            var dest = Path.Combine(small, "upper");
            Directory.CreateDirectory(dest);
            var f = Pax(TarEntryType.File, "./big", 0x1A4);
            f.DataStream = new MemoryStream(new byte[4 << 20]);
            var ex = Assert.Throws<LayerFullException>(() => UpperArchive.Extract(Bcl(f), dest, new ExtractOptions()));
            Assert.That(ex!.Message, Does.Contain("upper layer full").And.Contain("'./big'"));
            Assert.That(Directory.EnumerateFileSystemEntries(dest), Is.Empty);
        }
        finally { Sh.Run($"umount {Sh.Q(small)}", check: false); }
    }

    [TestCase("./a/../../etc/x", "entry './a/../../etc/x': name escapes the destination")]
    [TestCase("/etc/passwd", "entry '/etc/passwd': name is absolute")]
    [TestCase("../x", "entry '../x': name escapes the destination")]
    public void Normalize_Refuses(string name, string message)
    {
        var ex = Assert.Throws<ArchiveRejectedException>(() => EntryPath.Normalize(name));
        Assert.That(ex!.Message, Is.EqualTo(message));
    }

    [TestCase("./", "")]
    [TestCase(".", "")]
    [TestCase("./a//b/./c/", "a/b/c")]
    [TestCase("a/b", "a/b")]
    [TestCase("././x", "x")]
    public void Normalize_Accepts(string name, string rel) => Assert.That(EntryPath.Normalize(name), Is.EqualTo(rel));
}

/// <summary>Hand-built USTAR/PAX blocks, independent of the library's writer.</summary>
static class Hand
{
    public static byte[] Header(string name, char type, long size)
    {
        var h = new byte[512];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(h, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(h, 124);
        Encoding.ASCII.GetBytes("13000000000\0").CopyTo(h, 136);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\000").CopyTo(h, 257);
        FixChecksum(h);
        return h;
    }

    public static void FixChecksum(byte[] h)
    {
        for (int i = 148; i < 156; i++) h[i] = (byte)' ';
        int sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
    }

    public static byte[] PaxData(params (string Key, byte[] Value)[] records)
    {
        var ms = new MemoryStream();
        foreach (var (k, v) in records)
        {
            int body = 1 + Encoding.UTF8.GetByteCount(k) + 1 + v.Length + 1;
            int n = body + 1;
            while (n.ToString().Length + body != n) n = n.ToString().Length + body;
            ms.Write(Encoding.ASCII.GetBytes($"{n} {k}="));
            ms.Write(v);
            ms.WriteByte((byte)'\n');
        }
        return ms.ToArray();
    }

    public static byte[] Pad(byte[] data) => data.Concat(new byte[(512 - data.Length % 512) % 512]).ToArray();
    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

/// <summary>A forward-only stream, so BCL's reader does not try to seek over 9 GiB of absent data.</summary>
sealed class NonSeekable(byte[] data) : Compression.ReadOnlyStream
{
    readonly MemoryStream _inner = new(data);
    public override int Read(Span<byte> buffer) => _inner.Read(buffer);
}
