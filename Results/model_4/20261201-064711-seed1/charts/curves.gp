# Training curves: loss and accuracy per epoch, train and validation.
# Data: curves.dat. Redraw curves.png and curves.svg with: gnuplot curves.gp (in this directory)
do for [format in "png svg"] {
    if (format eq "png") {
        set terminal pngcairo size 900,600 noenhanced font 'Sans,10' background rgb 'white'
    } else {
        set terminal svg size 900,600 noenhanced font 'Sans,10' background rgb 'white'
    }
    set output (exists("fb_output_".format) ? value("fb_output_".format) : 'curves.'.format)
    reset
    set encoding utf8
    set datafile missing 'NaN'
    set multiplot layout 1,2 title 'model_4: loss and accuracy'
    set xlabel 'epoch'
    set grid
    set key opaque
    set xtics 1
    set title 'Loss'
    set ylabel 'loss'
    set key top right
    plot 'curves.dat' using 1:2 with linespoints linewidth 2 pointtype 7 pointsize 0.6 linecolor rgb '#1f77b4' title 'train', \
         '' using 1:4 with linespoints linewidth 2 dashtype 2 pointtype 5 pointsize 0.6 linecolor rgb '#ff7f0e' title 'validation'
    set title 'Accuracy'
    set ylabel 'accuracy'
    set key bottom right
    plot 'curves.dat' using 1:3 with linespoints linewidth 2 pointtype 7 pointsize 0.6 linecolor rgb '#1f77b4' title 'train', \
         '' using 1:5 with linespoints linewidth 2 dashtype 2 pointtype 5 pointsize 0.6 linecolor rgb '#ff7f0e' title 'validation'
    unset multiplot
    set output
}
