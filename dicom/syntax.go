package dicom

// syntaxKind says how the data set and pixel data of a transfer syntax are encoded.
type syntaxKind int

const (
	syntaxUnsupported syntaxKind = iota
	syntaxImplicitLE             // implicit VR little endian, native pixels
	syntaxExplicitLE             // explicit VR little endian, native pixels
	syntaxExplicitBE             // explicit VR big endian (retired), native pixels
	syntaxDeflatedLE             // explicit VR little endian, data set deflated
	syntaxJPEG                   // explicit VR little endian, encapsulated JPEG (DCT or lossless)
	syntaxRLE                    // explicit VR little endian, encapsulated RLE
	syntaxJPEGLS                 // explicit VR little endian, encapsulated JPEG-LS (CharLS)
	syntaxJPEG2000               // explicit VR little endian, encapsulated JPEG 2000 (OpenJPEG)
)

// transferSyntax describes one transfer syntax UID.
type transferSyntax struct {
	uid  string
	name string
	kind syntaxKind
}

// Transfer syntax UIDs the decoder reads.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
	JPEGBaseline8Bit               = "1.2.840.10008.1.2.4.50"
	JPEGExtended12Bit              = "1.2.840.10008.1.2.4.51"
)

// syntaxes lists the transfer syntaxes the decoder knows by name (PS3.6 Table A-1).
var syntaxes = []transferSyntax{
	{ImplicitVRLittleEndian, "Implicit VR Little Endian", syntaxImplicitLE},
	{ExplicitVRLittleEndian, "Explicit VR Little Endian", syntaxExplicitLE},
	{"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", syntaxUnsupported},
	{DeflatedExplicitVRLittleEndian, "Deflated Explicit VR Little Endian", syntaxDeflatedLE},
	{ExplicitVRBigEndian, "Explicit VR Big Endian", syntaxExplicitBE},
	{JPEGBaseline8Bit, "JPEG Baseline (Process 1)", syntaxJPEG},
	{JPEGExtended12Bit, "JPEG Extended (Process 2 & 4)", syntaxJPEG},
	{"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", syntaxJPEG},
	{"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", syntaxJPEG},
	{"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", syntaxJPEGLS},
	{"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless) Image Compression", syntaxJPEGLS},
	{"1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", syntaxJPEG2000},
	{"1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", syntaxJPEG2000},
	{"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", syntaxUnsupported},
	{"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", syntaxUnsupported},
	{"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", syntaxUnsupported},
	{"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", syntaxUnsupported},
	{"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", syntaxUnsupported},
	{"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", syntaxUnsupported},
	{"1.2.840.10008.1.2.5", "RLE Lossless", syntaxRLE},
}

// lookupSyntax returns the transfer syntax for uid; an unknown UID is unsupported with an empty name.
func lookupSyntax(uid string) transferSyntax {
	for _, s := range syntaxes {
		if s.uid == uid {
			return s
		}
	}
	return transferSyntax{uid: uid, name: "unknown transfer syntax", kind: syntaxUnsupported}
}
