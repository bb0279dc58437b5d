#!/bin/sh
# make-inputs.sh -- create the small input images used by corpus.txt
#
# Usage: sh make-inputs.sh DIR
# Needs only ImageMagick 6 `convert` (Debian 12: apt-get install imagemagick,
# 6.9.11-60 Q16) and POSIX sh/printf/tail.  Everything is deterministic
# (plasma: is seeded, PNG date/time chunks are excluded), so two runs give the
# same pixels (and, for PNG/GIF/BMP/PPM, the same bytes) with the same IM build.
# No placeholder is a prefix of another one.
#
# Placeholder -> file (corpus runner substitutes these):
#   IN_JPG   in.jpg      640x480 sRGB JPEG q90, plasma texture (photo-like)
#   IN_PNG   in.png      640x480 opaque 8-bit RGB PNG (logo:, white surround -> good for -trim)
#   IN_ALPHA alpha.png   400x300 RGBA PNG: rose with graded alpha, fully transparent 50px margin
#   IN_GRAY  gray.png    320x240 8-bit grayscale PNG
#   IN16_PNG in16.png    320x240 16-bit/channel RGB PNG (smooth gradient)
#   IN_CMYK  cmyk.jpg    320x240 CMYK JPEG
#   IN_GIF   anim.gif    6-frame 120x90 animated GIF (loop 0, delay 10, optimized partial frames)
#   IN_EXIF  exif6.jpg   320x240 stored pixels, EXIF Orientation=6 (RightTop) -> 240x320 after -auto-orient
#   IN_DIFF  in2.jpg     640x480 JPEG q85: IN_JPG with a small dark rectangle and a brightness tweak (for compare)
#   IN_PAL   pal.png     160x120 palette PNG (colour type 3, 16 colours, opaque)
#   IN_TRNS  paltrns.png 100x75 palette PNG with a tRNS chunk (binary transparency)
#   IN_GA    graya.png   200x150 8-bit gray+alpha PNG (colour type 4)
#   IN_G16   gray16.png  256x64 16-bit grayscale PNG (horizontal ramp)
#   IN_ILACE ilace.png   160x120 Adam7-interlaced 8-bit RGB PNG
#   IN_PROG  prog.jpg    320x240 progressive JPEG q80
#   IN_GJPEG grayj.jpg   320x240 1-channel (grayscale) JPEG q85
#   IN_JP2   in.jp2      160x120 JPEG 2000 (JP2 container)
#   IN_TIFF  in.tif      200x150 RGB TIFF, LZW compressed, 72 dpi
#   IN_MTIFF pages.tif   3-page TIFF (80x60 red, 100x50 green, 60x80 blue)
#   IN_BMP   in.bmp      160x120 24-bit BMP
#   IN_PPM   in.ppm      64x48 binary PPM (P6)
#   IN_WEBP  in.webp     160x120 lossless WebP
#   IN_ICO   icon.ico    ICO with 3 sizes (16, 32, 48)
#   IN_MASK  mask.png    640x480 8-bit gray mask: white disc on black, soft edge
#   IN_WMARK wmark.png   160x60 RGBA watermark: text "mtool" (DejaVu-Sans) on transparent
#   IN_TILE  tile.png    32x32 RGB tile (2-colour checker with a diagonal)
#   IN_DMAP  dmap.png    640x480 8-bit gray displacement map (smooth ramp)
#   IN_SMALL small.png   80x60 RGB crop of IN_JPG (for -subimage-search)
#   IN_PATCH patch.png   12x10 RGB crop of IN_SMALL at +30+20
#   IN_TEXT  note.txt    3-line ASCII text file (for text: input)
set -e
DIR=${1:-compat-inputs}
CONVERT=${CONVERT:-/usr/bin/convert}
NODATE="-define png:exclude-chunks=date,time"
mkdir -p "$DIR"
cd "$DIR"

# make IN_JPG: deterministic plasma, smoothed a little so it compresses like a photo
$CONVERT -seed 4242 -size 640x480 plasma:fuchsia-yellow -blur 0x1.5 \
  -quality 90 -sampling-factor 2x2 in.jpg

# make IN_PNG: opaque truecolour PNG (PNG24: forces 8-bit RGB, no palette)
$CONVERT logo: -alpha off $NODATE PNG24:in.png

# make IN_ALPHA: semi-transparent (horizontal alpha ramp 100%..20%) rose on a transparent canvas
$CONVERT rose: -resize '300x200!' \
  \( -size 200x300 gradient:white-gray20 -rotate 90 \) \
  -alpha off -compose CopyOpacity -composite \
  -compose Over -background none -gravity center -extent 400x300 \
  $NODATE PNG32:alpha.png

# make IN_GRAY: 8-bit grayscale PNG (colour type 0)
$CONVERT in.jpg -resize 320x240 -colorspace Gray -depth 8 \
  -define png:color-type=0 -define png:bit-depth=8 $NODATE gray.png

# make IN16_PNG: 16 bits per channel RGB
$CONVERT -size 240x320 gradient:'#ff2000-#0030ff' -rotate 90 \
  \( -size 320x240 gradient:white-black \) -compose Multiply -composite \
  -depth 16 $NODATE PNG48:in16.png

# make IN_CMYK: CMYK JPEG (Adobe-style, 4 components)
$CONVERT in.jpg -resize 320x240 -colorspace CMYK -quality 90 cmyk.jpg

# make IN_GIF: 6 frames, a red square moving over a sky-blue field, optimized to partial frames
$CONVERT -delay 10 -loop 0 -size 120x90 -fill red \
  \( xc:skyblue -draw 'rectangle 5,30 34,59' \) \
  \( xc:skyblue -draw 'rectangle 20,30 49,59' \) \
  \( xc:skyblue -draw 'rectangle 35,30 64,59' \) \
  \( xc:skyblue -draw 'rectangle 50,30 79,59' \) \
  \( xc:skyblue -draw 'rectangle 65,30 94,59' \) \
  \( xc:skyblue -draw 'rectangle 80,30 109,59' \) \
  -layers Optimize anim.gif

# make IN_EXIF: JPEG whose APP1/Exif says Orientation=6 (rotate 90 CW to display).
# IM6 cannot add a bare EXIF profile from the CLI, so splice a 34-byte APP1
# segment (Exif\0\0 + big-endian TIFF header + 1-entry IFD0) right after SOI.
$CONVERT in.jpg -resize 320x240 -quality 90 exif-base.jpg
{
  printf '\377\330\377\341\000\042'
  printf 'Exif\000\000MM\000\052\000\000\000\010\000\001'
  printf '\001\022\000\003\000\000\000\001\000\006\000\000\000\000\000\000'
  tail -c +3 exif-base.jpg
} > exif6.jpg
rm -f exif-base.jpg

# make IN_DIFF: the same photo, slightly changed (dark box + 3% brightness), re-encoded at q85
$CONVERT in.jpg -fill '#203040' -draw 'rectangle 300,200 339,229' \
  -modulate 103,100,100 -quality 85 -sampling-factor 2x2 in2.jpg

# make IN_PAL: 16-colour palette PNG
$CONVERT in.jpg -resize 160x120 +dither -colors 16 $NODATE PNG8:pal.png

# make IN_TRNS: palette PNG with binary transparency (tRNS)
$CONVERT alpha.png -resize 100x75 -channel A -threshold 50% +channel \
  +dither -colors 32 $NODATE PNG8:paltrns.png

# make IN_GA: gray + alpha (colour type 4)
$CONVERT gray.png -resize 200x150 \
  \( -size 150x200 gradient:white-black -rotate 90 \) \
  -alpha off -compose CopyOpacity -composite \
  -define png:color-type=4 -define png:bit-depth=8 $NODATE graya.png

# make IN_G16: 16-bit gray ramp
$CONVERT -size 64x256 gradient:white-black -rotate 90 -colorspace Gray -depth 16 \
  -define png:color-type=0 -define png:bit-depth=16 $NODATE gray16.png

# make IN_ILACE: Adam7 interlaced RGB PNG
$CONVERT in.jpg -resize 160x120 -interlace PNG $NODATE PNG24:ilace.png

# make IN_PROG: progressive JPEG
$CONVERT in.jpg -resize 320x240 -interlace JPEG -quality 80 prog.jpg

# make IN_GJPEG: grayscale JPEG (one component)
$CONVERT gray.png -quality 85 grayj.jpg

# make IN_JP2: JPEG 2000
$CONVERT in.jpg -resize 160x120 -quality 60 in.jp2

# make IN_TIFF: RGB TIFF, LZW
$CONVERT in.jpg -resize 200x150 -density 72 -units PixelsPerInch -compress LZW in.tif

# make IN_MTIFF: 3-page TIFF with different sizes
$CONVERT -size 80x60 xc:red -size 100x50 xc:green -size 60x80 xc:blue \
  -depth 8 -compress Zip pages.tif

# make IN_BMP: 24-bit BMP
$CONVERT in.jpg -resize 160x120 -type TrueColor BMP3:in.bmp

# make IN_PPM: binary PPM
$CONVERT in.jpg -resize 64x48 -depth 8 in.ppm

# make IN_WEBP: lossless WebP
$CONVERT in.jpg -resize 160x120 -define webp:lossless=true in.webp

# make IN_ICO: three-size icon
$CONVERT logo: -resize '48x48!' \( -clone 0 -resize 32x32 \) \( -clone 0 -resize 16x16 \) \
  -reverse -alpha off -colors 256 icon.ico

# make IN_MASK: soft white disc on black
$CONVERT -size 640x480 xc:black -fill white -draw 'circle 320,240 320,80' -blur 0x8 \
  -colorspace Gray -depth 8 -define png:color-type=0 $NODATE mask.png

# make IN_WMARK: semi-opaque text on transparent
$CONVERT -size 160x60 xc:none -font DejaVu-Sans -pointsize 36 -fill 'rgba(255,255,255,0.8)' \
  -stroke black -strokewidth 1 -gravity center -annotate +0+0 'mtool' $NODATE PNG32:wmark.png

# make IN_TILE: 32x32 checker tile
$CONVERT -size 32x32 xc:'#e0c060' -fill '#304080' -draw 'rectangle 0,0 15,15' \
  -draw 'rectangle 16,16 31,31' -stroke white -draw 'line 0,31 31,0' -alpha off \
  $NODATE PNG24:tile.png

# make IN_DMAP: displacement map, gray ramp with a sine ripple
$CONVERT -size 640x480 xc: -fx '0.5+0.25*sin(i/20)+0.2*(j/h-0.5)' -colorspace Gray -depth 8 \
  -define png:color-type=0 $NODATE dmap.png

# make IN_SMALL / IN_PATCH: subimage-search pair
$CONVERT in.jpg -crop 80x60+200+150 +repage $NODATE PNG24:small.png
$CONVERT small.png -crop 12x10+30+20 +repage $NODATE PNG24:patch.png

# make IN_TEXT: plain text
printf 'mtool compat corpus\nline two: 123\nline three\n' > note.txt

# sanity listing (stdout)
$CONVERT in.jpg in.png alpha.png gray.png in16.png cmyk.jpg 'anim.gif[0]' exif6.jpg \
  in2.jpg pal.png paltrns.png graya.png gray16.png ilace.png prog.jpg grayj.jpg in.jp2 \
  in.tif 'pages.tif[0]' in.bmp in.ppm in.webp 'icon.ico[0]' mask.png wmark.png tile.png \
  dmap.png small.png patch.png \
  -format '%f %m %wx%h %[colorspace] depth=%z type=%[type] orient=%[orientation]\n' info:
